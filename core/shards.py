"""Deterministic WebDataset shards and their wids-compatible index (`shards.json`).

A shard is a plain POSIX tar: for each sample, its files `<key>.<ext>` in the order given,
with fixed metadata (mtime 0, uid/gid 0, mode 0644) so that the same samples always give the
same bytes. Shards are written under a temporary name and renamed, so a reader (or a resumed
run) never sees a truncated one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from core.atomic import atomic_open, atomic_write_json
from core.hashing import file_md5

INDEX_NAME = "shards.json"
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

Sample = tuple[str, Mapping[str, bytes]]
"""(key, {extension: bytes}); extensions such as `png`, `json`, `color.png`, `tags.npy`."""


@dataclass(frozen=True)
class ShardInfo:
    """One entry of `shards.json` (wids `shardlist` format)."""

    url: str
    nsamples: int
    filesize: int
    md5sum: str


def shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:06d}.tar"


def check_key(key: str) -> str:
    """Keys must not contain dots (webdataset splits `<key>.<ext>` at the first dot)."""
    if not _KEY_RE.match(key):
        raise ValueError(f"invalid sample key {key!r}: use letters, digits, '_' and '-' only")
    return key


def tar_bytes(samples: Iterable[Sample]) -> tuple[bytes, int]:
    """Serialise samples into deterministic tar bytes; returns (bytes, number of samples)."""
    buf = io.BytesIO()
    n = 0
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, files in samples:
            check_key(key)
            if key in seen:
                raise ValueError(f"duplicate sample key {key!r} in one shard")
            seen.add(key)
            for ext, data in files.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                info.mtime = 0
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
            n += 1
    return buf.getvalue(), n


def write_shard(path: str | Path, samples: Iterable[Sample]) -> ShardInfo:
    """Write one shard atomically and return its index entry (url is the file name)."""
    path = Path(path)
    data, n = tar_bytes(samples)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return ShardInfo(url=path.name, nsamples=n, filesize=len(data), md5sum=hashlib.md5(data).hexdigest())


def shard_info(path: str | Path) -> ShardInfo:
    """Compute the index entry of an existing shard (counts samples by distinct key)."""
    path = Path(path)
    md5, size = file_md5(path)
    return ShardInfo(url=path.name, nsamples=count_samples(path), filesize=size, md5sum=md5)


def _split_name(name: str) -> tuple[str, str]:
    """`dir/key.ext.more` -> (key, "ext.more"): the key ends at the first dot of the base name."""
    key, _, ext = os.path.basename(name).partition(".")
    return key, ext


def count_samples(path: str | Path) -> int:
    """Distinct keys in a tar, reading headers only."""
    with tarfile.open(path, mode="r:") as tar:
        return len({_split_name(m.name)[0] for m in tar.getmembers() if m.isfile()})


def iter_samples(
    path: str | Path, fields: Collection[str] | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Group a shard's members into samples: (key, {ext: bytes}), in file order.

    With `fields`, only those extensions are read (the others are skipped unread); every key
    still yields a sample.
    """
    with tarfile.open(path, mode="r:") as tar:
        yield from iter_tar_samples(tar, fields)


def iter_tar_samples(
    tar: tarfile.TarFile, fields: Collection[str] | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """`iter_samples` over an open tar (a file or a stream opened with mode "r|")."""
    key: str | None = None
    files: dict[str, bytes] = {}
    for member in tar:
        if not member.isfile():
            continue
        k, ext = _split_name(member.name)
        if key is not None and k != key:
            yield key, files
            files = {}
        key = k
        if fields is None or ext in fields:
            f = tar.extractfile(member)
            assert f is not None
            files[ext] = f.read()
    if key is not None:
        yield key, files


def write_index(folder: str | Path, shards: Iterable[ShardInfo], name: str) -> Path:
    """Write the wids-compatible `shards.json` listing `shards` in order."""
    folder = Path(folder)
    index = {
        "__kind__": "wids-shard-index-v1",
        "wids_version": 1,
        "name": name,
        "shardlist": [asdict(s) for s in shards],
    }
    path = folder / INDEX_NAME
    atomic_write_json(path, index)
    return path


def read_index(folder: str | Path) -> list[ShardInfo]:
    """Read `shards.json`; raises FileNotFoundError or ValueError with a clear message."""
    path = Path(folder) / INDEX_NAME
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    try:
        return [ShardInfo(**entry) for entry in index["shardlist"]]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a wids shard index ({e})") from e


def shard_paths(folder: str | Path) -> list[Path]:
    """The shards listed in the folder's index, or all `*.tar` files when there is no index."""
    folder = Path(folder)
    if (folder / INDEX_NAME).exists():
        return [folder / s.url for s in read_index(folder)]
    return sorted(folder.glob("*.tar"))
