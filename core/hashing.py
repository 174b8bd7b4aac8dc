"""File hashes the project records (md5, as DVC and webdataset's wids do)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_md5(path: str | Path) -> tuple[str, int]:
    """(md5 hex digest, size in bytes) of a file, read in blocks."""
    h = hashlib.md5()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
