"""`prep verify`: check a shard folder against its `shards.json` and decode every sample.

Problems found (each reported on one line): a listed shard that is missing, a size, md5 or
sample-count mismatch with the index, a tar that cannot be read, a tar member that is not a
`<key>.<ext>` file or is separated from the rest of its sample, a key used twice, a sample
lacking a field the others have, a field that does not decode (image, `.npy`, `.json`), a
`line.png` that is not one channel, sample JSON that does not match its stage's spec, a manifest
that does not match its stage's schema, and a `*.tar` in the folder that the index does not list.

Which stage wrote the folder comes from the registry (prep/stages.py), by the `name` in
`shards.json` or else the shards' prefix; a folder no stage writes is still checked shard by
shard, and `Report.notes` says that its JSON and manifest could not be checked against a schema.

Each shard is read once, as a stream: its md5 is computed from the same bytes the tar reader
consumes, and only one sample is held in memory at a time, so raw-size shards cost no more
memory than their largest sample.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import UserError

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
    stage: str | None = None  # the registered stage that wrote the folder, when known
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.problems


class _HashingReader:
    """A read-only file wrapper that hashes and counts every byte read through it."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.md5 = hashlib.md5()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.md5.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever the tar reader left: end-of-archive blocks, or the rest after an error."""
        while self.read(1 << 20):
            pass


def _members(f: _HashingReader, shard: str, problems: list[Problem]) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of the tar's regular files one at a time, reading the file once, in order.

    Reports other members and read errors. Only one member is in memory at a time.
    """
    try:
        with tarfile.open(fileobj=f, mode="r|") as tar:  # type: ignore[call-overload]
            for m in tar:
                if not m.isfile():
                    problems.append(Problem(shard, None, f"tar member {m.name!r} is not a regular file"))
                    continue
                member = tar.extractfile(m)
                assert member is not None
                yield m.name, member.read()
    except (tarfile.TarError, EOFError, OSError) as e:
        problems.append(Problem(shard, None, f"unreadable tar: {e}"))


def _samples(
    shard: str, members: Iterable[tuple[str, bytes]], problems: list[Problem]
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Group members into samples as they stream by, reporting members outside a sample and split or
    repeated fields. A sample is yielded once its last member is read: one sample in memory at a time."""
    key: str | None = None
    files: dict[str, bytes] = {}
    done: set[str] = set()
    for name, content in members:
        base = name.rsplit("/", 1)[-1]
        k, dot, ext = base.partition(".")
        if not k or not dot or not ext:
            problems.append(
                Problem(shard, None, f"tar member {name!r} is outside a sample (not <key>.<ext>)")
            )
            continue
        if k == key:
            if ext in files:
                problems.append(Problem(shard, k, f"field {ext!r} appears twice"))
            files[ext] = content
            continue
        if k in done:
            problems.append(
                Problem(shard, k, f"tar member {name!r} is separated from the rest of its sample")
            )
            continue
        if key is not None:
            yield key, files
        done.add(k)
        key, files = k, {ext: content}
    if key is not None:
        yield key, files


def check_sample(key: str, files: dict[str, bytes], json_spec: dict[str, str] | None) -> list[str]:
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
            if json_spec is not None:
                try:
                    validate_sample_json(obj, json_spec, where=f"{key}.{ext}")
                except SchemaError as e:
                    out.append(str(e))
    return out


def _load_index(folder: Path, report: Report) -> list[Any]:
    from core.hashing import file_md5
    from core.shards import INDEX_NAME, ShardInfo, read_index, shard_info

    if (folder / INDEX_NAME).is_file():
        try:
            return read_index(folder)
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
            report.problems.append(Problem(INDEX_NAME, None, f"unreadable index: {e}"))
    else:
        report.problems.append(Problem(INDEX_NAME, None, "missing: the shards cannot be checked against it"))
    infos = []
    for p in sorted(folder.glob("*.tar")):
        try:
            infos.append(shard_info(p))
        except (tarfile.TarError, EOFError, OSError):  # checked like the others: the check reports it
            md5, size = file_md5(p)
            infos.append(ShardInfo(p.name, 0, size, md5))
    return infos


def _check_shard(
    path: Path,
    info: Any,
    seen: dict[str, str],
    expected: tuple[str, ...] | None,
    spec: dict[str, str] | None,
    report: Report,
) -> tuple[str, ...] | None:
    """Check one shard against its index entry, decoding every sample; returns the expected fields."""
    problems: list[Problem] = []
    n_samples = 0
    with open(path, "rb") as raw:
        f = _HashingReader(raw)
        for key, files in _samples(info.url, _members(f, info.url, problems), problems):
            n_samples += 1
            if key in seen:
                problems.append(Problem(info.url, key, f"key also used in {seen[key]}"))
            seen.setdefault(key, info.url)
            if expected is None:
                expected = tuple(files)
            elif missing := [e for e in expected if e not in files]:
                problems.append(Problem(info.url, key, f"missing field(s) {missing}"))
            problems += [Problem(info.url, key, m) for m in check_sample(key, files, spec)]
        f.drain()
    report.samples += n_samples
    # the file-level findings first, then what the samples showed
    if f.size != info.filesize:
        report.problems.append(Problem(info.url, None, f"size {f.size} != {info.filesize} in shards.json"))
    md5 = f.md5.hexdigest()
    if md5 != info.md5sum:
        report.problems.append(Problem(info.url, None, f"md5 {md5} != {info.md5sum} in shards.json"))
    report.problems += problems
    if n_samples != info.nsamples:
        report.problems.append(
            Problem(info.url, None, f"{n_samples} samples, shards.json says {info.nsamples}")
        )
    return expected


def verify_dir(folder: str | Path, progress: bool = True) -> Report:
    """Check every shard of `folder` against `shards.json` and decode every sample."""
    from tqdm import tqdm

    from prep.stages import resolve

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
    stage = _stage_of(folder, infos, report)
    spec = resolve(stage.sample) if stage is not None and stage.sample else None
    expected: tuple[str, ...] | None = None
    seen: dict[str, str] = {}
    for info in tqdm(infos, desc="verify", unit="shard", disable=not progress, dynamic_ncols=True):
        report.shards += 1
        path = folder / info.url
        if not path.is_file():
            report.problems.append(Problem(info.url, None, "listed in shards.json but missing"))
            continue
        expected = _check_shard(path, info, seen, expected, spec, report)
    report.fields = expected or ()
    if stage is not None:
        _check_manifest(folder, stage, report)
    return report


def _stage_of(folder: Path, infos: list[Any], report: Report) -> Any:
    """The registered stage that wrote the folder (by shards.json's name, else the shards' prefix)."""
    from core.shards import INDEX_NAME
    from prep.stages import STAGES, by_shard_prefix

    name = None
    with contextlib.suppress(OSError, ValueError, AttributeError):  # an unreadable index is reported already
        name = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8")).get("name")
    prefixes = {i.url.rsplit("-", 1)[0] for i in infos}
    candidates = [name] if isinstance(name, str) else sorted(prefixes)
    stage = by_shard_prefix(candidates[0]) if len(candidates) == 1 else None
    if stage is None:
        known = ", ".join(s.shard_prefix for s in STAGES if s.shard_prefix)
        what = (
            f"shards.json name {name!r}" if isinstance(name, str) else f"shard prefix(es) {sorted(prefixes)}"
        )
        report.notes.append(
            f"{folder}: {what} is no stage's (known: {known}); every sample was decoded, "
            "but its JSON and the manifest were not checked against a schema"
        )
    else:
        report.stage = stage.name
    return stage


def _check_manifest(folder: Path, stage: Any, report: Report) -> None:
    """The stage's manifest, when the folder has it, against the stage's schema."""
    from prep.manifests import read_columns
    from prep.stages import resolve
    from schemas.validate import SchemaError

    path = folder / stage.manifest
    if stage.schema is None or not path.is_file():
        return
    try:
        read_columns(path, resolve(stage.schema))
    except (SchemaError, OSError) as e:
        report.problems.append(Problem(stage.manifest, None, f"does not match {stage.schema}: {e}"))
