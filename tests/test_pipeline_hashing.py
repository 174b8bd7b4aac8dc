"""DVC's md5s for files and directories, and the (inode, size, mtime) hash cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from prep.pipeline import hashing
from prep.pipeline.hashing import HashCache, HashInfo, dir_md5
from tests.pipeline_toy import age


def known_tree(root: Path) -> Path:
    tree = root / "tree"
    (tree / "sub" / "c").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"hello\n")
    (tree / "sub" / "b.txt").write_bytes(b"world\r\n")  # CRLF: hashed as is (no dos2unix)
    (tree / "sub" / "c" / "d.bin").write_bytes(b"\x00\x01\x02")
    (tree / "Z.txt").write_bytes(b"")
    (tree / "sub-file.txt").write_bytes(b"x")  # '-' sorts before '/': relpath order, not walk order
    return tree


def test_directory_hash_matches_dvc(tmp_path):
    # The value `dvc add tree` (DVC 3.67.1) wrote for this exact tree.
    info = HashCache().hash_path(known_tree(tmp_path))
    assert info == HashInfo("11709ad03d76f72330e280a337892d56.dir", size=17, nfiles=5)
    assert info.isdir


def test_file_and_empty_directory_hashes(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc" * 1000)
    assert HashCache().hash_path(f) == HashInfo(hashlib.md5(b"abc" * 1000).hexdigest(), 3000)
    (tmp_path / "empty").mkdir()
    assert HashCache().hash_path(tmp_path / "empty") == HashInfo(
        hashlib.md5(b"[]").hexdigest() + ".dir", 0, 0
    )
    assert HashCache().hash_path(tmp_path / "missing") is None
    assert dir_md5([("b", "2"), ("a", "1")]) == (
        hashlib.md5(b'[{"md5": "1", "relpath": "a"}, {"md5": "2", "relpath": "b"}]').hexdigest() + ".dir"
    )


def test_cache_skips_rereading_unchanged_files(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    for i in range(40):
        (tree / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 4}" / f"{i}.txt").write_text(f"file {i}")
    age(tree)
    reads: list[str] = []
    real = hashing.md5_file
    monkeypatch.setattr(hashing, "md5_file", lambda p: reads.append(str(p)) or real(p))
    db = tmp_path / ".prep" / "hashes.sqlite"

    first = HashCache(db)
    h1 = first.hash_path(tree)
    first.close()
    assert (first.misses, first.hits, len(reads)) == (40, 0, 40)

    reads.clear()
    second = HashCache(db)  # a new process would see the same: the cache lives in sqlite
    assert second.hash_path(tree) == h1
    second.close()
    assert (second.misses, second.hits, reads) == (0, 40, [])

    changed = tree / "d1" / "5.txt"
    changed.write_text("file 5, changed")
    age(changed, 30)
    third = HashCache(db)
    h3 = third.hash_path(tree)
    third.close()
    assert h3 != h1 and reads == [str(changed)] and third.hits == 39


def test_recently_modified_files_are_not_trusted(tmp_path, monkeypatch):
    # A file written in the same mtime tick as it was hashed could change again unnoticed
    # (same inode, size and mtime), so fresh files are hashed again until they settle.
    f = tmp_path / "fresh.txt"
    f.write_text("one")
    db = tmp_path / "h.sqlite"
    c = HashCache(db)
    c.hash_path(f)
    c.close()
    st = os.stat(f)
    f.write_text("two")  # same size; force the same mtime too
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    c = HashCache(db)
    assert c.hash_path(f).md5 == hashlib.md5(b"two").hexdigest()
    c.close()


def test_damaged_cache_is_rebuilt(tmp_path):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    f = tmp_path / "x.txt"
    f.write_text("x")
    c = HashCache(db)
    assert c.hash_path(f).md5 == hashlib.md5(b"x").hexdigest()
    c.close()
