"""The raw store under `--out`: images, `posts.parquet`, its append-only journal and the paging state.

Crash safety (SIGKILL included): every finished post is appended to `posts.journal.jsonl` and
flushed to the OS at once (fsynced in batches, for power losses; a torn last line is ignored).
Parquet cannot be appended, so the journal is compacted into `posts.parquet` atomically at the
start, periodically and at the end.
Image files are renamed into place from `.part` files; leftover `.part` files are deleted on open.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json, atomic_write_parquet, ensure_out_dir, remove_stale_temporaries
from core.errors import UserError
from crawl.cursor import Interval
from crawl.download import IMAGE_EXTS
from schemas.crawl import POSTS_SCHEMA, STATUS_OK

MANIFEST = "posts.parquet"
JOURNAL = "posts.journal.jsonl"
STATE = "crawl_state.json"


class Store:
    """Rows by post id (later records win), the md5 -> kept post index, and the covered ranges."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.rows: dict[int, dict[str, Any]] = {}
        self.by_md5: dict[str, int] = {}
        self._journal: Any = None
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self.state: dict[str, Any] = {"queries": {}}
        self.removed_parts = 0
        self.files: dict[int, Path] = {}  # image files present at open, by post id (one listing, no stats)

    # -- opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Check --out is writable, clean up after a killed run, load rows and compact the journal."""
        ensure_out_dir(self.out)
        self._lock_out()
        remove_stale_temporaries(self.out)
        images = self.out / "images"
        if images.is_dir():
            for path in images.glob("*/*"):
                if path.suffix == ".part":
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                        self.removed_parts += 1
                elif path.stem.isdigit() and path.suffix[1:] in IMAGE_EXTS:
                    self.files[int(path.stem)] = path
        self._load()
        self.compact()
        self._journal = open(self.out / JOURNAL, "a", encoding="utf-8")  # noqa: SIM115

    def _lock_out(self) -> None:
        """One crawl per --out at a time (the lock goes with the process, even on SIGKILL)."""
        import fcntl

        self._lock_file = open(self.out / ".crawl.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise UserError(
                f"another prep crawl is writing to --out {self.out}; wait for it or use another folder"
            ) from None

    def _load(self) -> None:
        import pyarrow.parquet as pq

        manifest = self.out / MANIFEST
        if manifest.is_file():
            try:
                for row in pq.read_table(manifest).to_pylist():
                    # a manifest from before a column was added: the column is null
                    self.rows[row["id"]] = {name: row.get(name) for name in POSTS_SCHEMA.names}
            except Exception as e:  # a foreign or damaged file: say which and stop
                raise UserError(
                    f"{manifest} cannot be read ({e}); move it away or use another --out"
                ) from None
        journal = self.out / JOURNAL
        if journal.is_file():
            with open(journal, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # the torn last line of a killed run
                    if isinstance(row, dict) and isinstance(row.get("id"), int):
                        self.rows[row["id"]] = {name: row.get(name) for name in POSTS_SCHEMA.names}
        for pid in sorted(self.rows):
            row = self.rows[pid]
            if row["status"] == STATUS_OK and row.get("file_md5"):
                self.by_md5.setdefault(row["file_md5"], pid)
        state = self.out / STATE
        if state.is_file():
            with contextlib.suppress(ValueError, OSError):
                loaded = json.loads(state.read_text())
                if isinstance(loaded, dict) and isinstance(loaded.get("queries"), dict):
                    self.state = loaded

    # -- rows ----------------------------------------------------------------------------------

    def add(self, row: dict[str, Any]) -> None:
        """Record a finished post (in memory and in the journal; durable after `sync`)."""
        row = {name: row.get(name) for name in POSTS_SCHEMA.names}
        self.rows[row["id"]] = row
        if row["status"] == STATUS_OK and row.get("file_md5"):
            self.by_md5.setdefault(row["file_md5"], row["id"])
        self._journal.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        # in the OS's hands at once, so a SIGKILL loses no finished post (fsync stays batched)
        self._journal.flush()
        self._unsynced += 1

    def sync(self, force: bool = False, every_s: float = 1.0, every_n: int = 200) -> bool:
        """fsync the journal when forced or enough rows/time have gone by; True when it synced."""
        if self._journal is None:
            return False
        now = time.monotonic()
        if not force and self._unsynced < every_n and now - self._last_sync < every_s:
            return False
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._unsynced = 0
        self._last_sync = now
        return True

    def compact(self) -> None:
        """Write all rows to posts.parquet (validated, sorted by id), then empty the journal."""
        from schemas.crawl import manifest_table

        if self._journal is not None:
            self.sync(force=True)
        if self.rows or (self.out / MANIFEST).exists():
            table = manifest_table([self.rows[k] for k in sorted(self.rows)])
            atomic_write_parquet(self.out / MANIFEST, table)
        journal = self.out / JOURNAL
        if self._journal is not None:
            self._journal.close()
            self._journal = open(journal, "w", encoding="utf-8")  # noqa: SIM115
            os.fsync(self._journal.fileno())
        elif journal.exists():
            journal.write_bytes(b"")

    def close(self) -> None:
        if self._journal is not None:
            self.compact()
            self._journal.close()
            self._journal = None
        if getattr(self, "_lock_file", None) is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- paging state --------------------------------------------------------------------------

    def intervals(self, key: str) -> list[Interval]:
        q = self.state["queries"].get(key, {})
        return [tuple(iv) for iv in q.get("covered", [])]  # type: ignore[misc]

    def save_intervals(self, key: str, tags: list[str], intervals: list[Interval]) -> None:
        """Persist covered ranges; call only after the rows they cover are synced."""
        self.state["queries"][key] = {"tags": tags, "covered": [list(iv) for iv in intervals]}
        atomic_write_json(self.out / STATE, self.state)
