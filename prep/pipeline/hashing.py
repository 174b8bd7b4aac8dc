"""DVC's md5s for files and directories, with a persistent cache keyed by (path, inode, size, mtime).

A file hashes to the md5 of its bytes (DVC 3's `hash: md5`; DVC 2's dos2unix variant is not used).
A directory hashes to the md5 of `json.dumps(sorted([{"md5": ..., "relpath": ...}]), sort_keys=True)`
(default separators, posix relpaths, files only) followed by `.dir`, exactly as dvc-data's Tree does.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from core.hashing import file_md5

# A file modified less than this long before it was hashed could change again within the same
# mtime tick without changing its key (git's "racy" case), so such hashes are not cached.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class HashInfo:
    """What the lock file records for one path."""

    md5: str
    size: int
    nfiles: int | None = None  # set for directories

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(".dir")


def md5_file(path: str | Path) -> str:
    """DVC's file hash: the plain md5 of the bytes (the one place tests hook to count reads)."""
    return file_md5(path)[0]


def dir_md5(entries: list[tuple[str, str]]) -> str:
    """DVC's directory hash of (relpath, md5) pairs."""
    items = sorted(({"md5": m, "relpath": r} for r, m in entries), key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(items, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


class HashCache:
    """md5s of files, remembered in sqlite across runs; `hits`/`misses` count lookups."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = Path(db_path) if db_path else None
        self.hits = 0
        self.misses = 0
        self._rows: dict[str, tuple[int, int, int, str]] = {}
        self._new: dict[str, tuple[int, int, int, str]] = {}
        self._db: sqlite3.Connection | None = None
        self._memo: dict[str, HashInfo | None] = {}
        if self.db_path is not None:
            self._open()

    def _open(self) -> None:
        assert self.db_path is not None
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.db_path)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files "
                "(path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER, md5 TEXT)"
            )
            for path, inode, size, mtime_ns, md5 in self._db.execute("SELECT * FROM files"):
                self._rows[path] = (inode, size, mtime_ns, md5)
        except sqlite3.DatabaseError:
            # A damaged cache only costs time: start a fresh one.
            if self._db is not None:
                self._db.close()
            self.db_path.unlink(missing_ok=True)
            self._db = sqlite3.connect(self.db_path)
            self._db.execute(
                "CREATE TABLE files (path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER, md5 TEXT)"
            )

    def file_md5(self, path: str, st: os.stat_result) -> str:
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        row = self._new.get(path) or self._rows.get(path)
        if row is not None and row[:3] == key:
            self.hits += 1
            return row[3]
        self.misses += 1
        md5 = md5_file(path)
        if st.st_mtime_ns < time.time_ns() - RACY_NS:
            self._new[path] = (*key, md5)
        return md5

    def forget(self) -> None:
        """Drop the per-run memo of whole paths (call after anything may have written files)."""
        self._memo.clear()

    def hash_path(self, path: str | Path) -> HashInfo | None:
        """The HashInfo of a file or directory, or None when it does not exist (memoised until forget())."""
        path = os.fspath(path)
        if path not in self._memo:
            self._memo[path] = self._hash_path(path)
        return self._memo[path]

    def _hash_path(self, path: str) -> HashInfo | None:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not os.path.isdir(path):
            return HashInfo(self.file_md5(path, st), st.st_size)
        entries: list[tuple[str, str]] = []
        size = 0
        for rel, full, fst in _walk(path, ""):
            entries.append((rel, self.file_md5(full, fst)))
            size += fst.st_size
        return HashInfo(dir_md5(entries), size, len(entries))

    def flush(self) -> None:
        """Write the hashes computed since the last flush to the database."""
        if self._db is None or not self._new:
            return
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(p, *row) for p, row in self._new.items()],
            )
        self._rows.update(self._new)
        self._new.clear()

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None


def _walk(top: str, prefix: str):
    """(posix relpath, full path, stat) of every file below `top`, following symlinks like DVC."""
    with os.scandir(top) as it:
        entries = list(it)
    for e in entries:
        rel = f"{prefix}{e.name}"
        if e.is_dir():
            yield from _walk(e.path, rel + "/")
        else:
            try:
                yield rel, e.path, e.stat()
            except FileNotFoundError:  # a dangling symlink
                continue
