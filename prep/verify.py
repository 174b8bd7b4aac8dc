"""`prep verify`: check a shard folder against its `shards.json` and decode every sample.

Problems found (each reported on one line): a listed shard that is missing, a size, md5 or
sample-count mismatch with the index, a tar that cannot be read, a tar member that is not a
`<key>.<ext>` file or is separated from the rest of its sample, a key used twice, a sample
lacking a field the others have, a field that does not decode (image, `.npy`, `.json`), a
`line.png` that is not one channel, line-art JSON that does not match schemas.lineart, and a
`*.tar` in the folder that the index does not list.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prep.errors import UserError

IMAGE_EXTS = frozenset({"png", "jpg", "jpeg", "webp", "bmp"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (shard, optional sample key) and what."""

    shard: str
    key: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.shard}: {self.key}: {self.message}" if self.key else f"{self.shard}: {self.message}"


@dataclass
class Report:
    """What `verify_dir` found."""

    shards: int = 0
    samples: int = 0
    fields: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _members(data: bytes, shard: str, problems: list[Problem]) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of the tar's regular files; reports other members and read errors."""
    import io

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                if not m.isfile():
                    problems.append(Problem(shard, None, f"tar member {m.name!r} is not a regular file"))
                    continue
                f = tar.extractfile(m)
                assert f is not None
                yield m.name, f.read()
    except (tarfile.TarError, EOFError, OSError) as e:
        problems.append(Problem(shard, None, f"unreadable tar: {e}"))


def _group(shard: str, data: bytes, problems: list[Problem]) -> list[tuple[str, dict[str, bytes]]]:
    """Group members into samples, reporting members outside a sample and split or repeated fields."""
    samples: list[tuple[str, dict[str, bytes]]] = []
    done: set[str] = set()
    for name, content in _members(data, shard, problems):
        base = name.rsplit("/", 1)[-1]
        key, dot, ext = base.partition(".")
        if not key or not dot or not ext:
            problems.append(
                Problem(shard, None, f"tar member {name!r} is outside a sample (not <key>.<ext>)")
            )
            continue
        if samples and samples[-1][0] == key:
            files = samples[-1][1]
            if ext in files:
                problems.append(Problem(shard, key, f"field {ext!r} appears twice"))
            files[ext] = content
            continue
        if key in done:
            problems.append(
                Problem(shard, key, f"tar member {name!r} is separated from the rest of its sample")
            )
            continue
        done.add(key)
        samples.append((key, {ext: content}))
    return samples


def check_sample(key: str, files: dict[str, bytes], lineart_spec: dict[str, str] | None) -> list[str]:
    """Decode every field of one sample; returns the problems (empty when all is well)."""
    import io

    import cv2
    import numpy as np

    from schemas.validate import SchemaError, validate_sample_json

    out: list[str] = []
    for ext, data in files.items():
        last = ext.rsplit(".", 1)[-1].lower()
        if last in IMAGE_EXTS:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
            if img is None or img.size == 0:
                out.append(f"{key}.{ext} does not decode as an image ({len(data)} bytes)")
            elif ext == "line.png" and img.ndim != 2:
                out.append(f"{key}.line.png has {img.shape[2]} channels, not one")
        elif last == "npy":
            try:
                np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                out.append(f"{key}.{ext} is not a .npy array ({e})")
        elif last == "json":
            try:
                obj = json.loads(data)
            except (ValueError, UnicodeDecodeError) as e:
                out.append(f"{key}.{ext} is not JSON ({e})")
                continue
            if lineart_spec is not None:
                try:
                    validate_sample_json(obj, lineart_spec, where=f"{key}.{ext}")
                except SchemaError as e:
                    out.append(str(e))
    return out


def _load_index(folder: Path, report: Report) -> list[Any]:
    from prep.shards import INDEX_NAME, read_index, shard_info

    if (folder / INDEX_NAME).is_file():
        try:
            return read_index(folder)
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
            report.problems.append(Problem(INDEX_NAME, None, f"unreadable index: {e}"))
    else:
        report.problems.append(Problem(INDEX_NAME, None, "missing: the shards cannot be checked against it"))
    return [shard_info(p) for p in sorted(folder.glob("*.tar"))]


def verify_dir(folder: str | Path, progress: bool = True) -> Report:
    """Check every shard of `folder` against `shards.json` and decode every sample."""
    from tqdm import tqdm

    from schemas.lineart import LINEART_SAMPLE

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; give a folder of shards (with shards.json)")
    report = Report()
    infos = _load_index(folder, report)
    if not infos:
        raise UserError(f"{folder}: no shards (no shards.json entries, no *.tar); nothing to verify")
    listed = {i.url for i in infos}
    for p in sorted(folder.glob("*.tar")):
        if p.name not in listed:
            report.problems.append(Problem(p.name, None, "shard is not listed in shards.json"))
    expected: tuple[str, ...] | None = None
    seen: dict[str, str] = {}
    for info in tqdm(infos, desc="verify", unit="shard", disable=not progress, dynamic_ncols=True):
        report.shards += 1
        path = folder / info.url
        if not path.is_file():
            report.problems.append(Problem(info.url, None, "listed in shards.json but missing"))
            continue
        data = path.read_bytes()
        if len(data) != info.filesize:
            report.problems.append(
                Problem(info.url, None, f"size {len(data)} != {info.filesize} in shards.json")
            )
        md5 = hashlib.md5(data).hexdigest()
        if md5 != info.md5sum:
            report.problems.append(Problem(info.url, None, f"md5 {md5} != {info.md5sum} in shards.json"))
        samples = _group(info.url, data, report.problems)
        if len(samples) != info.nsamples:
            report.problems.append(
                Problem(info.url, None, f"{len(samples)} samples, shards.json says {info.nsamples}")
            )
        for key, files in samples:
            report.samples += 1
            if key in seen:
                report.problems.append(Problem(info.url, key, f"key also used in {seen[key]}"))
            seen.setdefault(key, info.url)
            if expected is None:
                expected = tuple(files)
            elif missing := [e for e in expected if e not in files]:
                report.problems.append(Problem(info.url, key, f"missing field(s) {missing}"))
            spec = LINEART_SAMPLE if "line.png" in files else None
            report.problems += [Problem(info.url, key, m) for m in check_sample(key, files, spec)]
    report.fields = expected or ()
    return report
