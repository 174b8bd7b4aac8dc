"""Which snapshot a run continues from, and what happens when the run in --out no longer fits.

`--resume auto` continues the run in --out. What defines a run: its identity options (fields marked
`identity=True`, see `train.engine.options`), its data (`data_hash` of --shards) and, as far as it
has got, its length. With `--on-change fail` (the default) an identity option given on the command
line with another value is an error and the data is not compared, as before. With
`--on-change restart` (what dvc.yaml uses) the run resumes when it was interrupted or only its length
(--kimg / --steps) grew or shrank to no less than it has trained; anything else (an identity option
given differently, other data, a run already longer than the new length, a run that recorded no
data hash) sets the old run aside as `<out>.superseded-<UTC time>` beside --out, outside every
stage's outputs, and a new run starts in --out.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from core.errors import UserError
from train.engine.rundir import RunDir, find_snapshot, load_snapshot


def data_hash(shards: str) -> str:
    """A content hash of the training data: of `shards.json`'s shard md5s and sizes when the folder
    has an index (cheap: no tar is read), else of each `*.tar` file's md5 (or of the URL, for remote data)."""
    from core.hashing import file_md5
    from core.shards import INDEX_NAME, read_index

    p = Path(shards)
    h = hashlib.sha256()
    if "://" in shards:
        h.update(shards.encode())
    elif p.is_dir() and (p / INDEX_NAME).exists():
        try:
            for s in read_index(p):
                h.update(f"{s.url} {s.md5sum} {s.nsamples}\n".encode())
        except (OSError, ValueError):  # a broken index: opening the shards reports it
            h.update(shards.encode())
    elif p.is_dir():
        for tar in sorted(p.glob("*.tar")):
            h.update(f"{tar.name} {file_md5(tar)[0]}\n".encode())
    elif p.is_file():
        h.update(f"{p.name} {file_md5(p)[0]}\n".encode())
    return h.hexdigest()


def saved_total_nimg(saved: dict[str, Any]) -> int:
    """The length (images) a snapshot's options asked for."""
    steps = saved.get("steps")
    return int(steps) * int(saved["batch"]) if steps is not None else round(float(saved["kimg"]) * 1000)


def changes(options: Any, state: dict[str, Any], explicit: set[str], identity: tuple[str, ...],
            data: str | None) -> list[str]:  # fmt: skip
    """Why the run of `state` is not the run `options` asks for (empty: it is, or may be continued)."""
    saved = state["options"]
    why = [
        f"--{k.replace('_', '-')} {getattr(options, k)} (the run has {saved.get(k)})"
        for k in identity
        if k in explicit and getattr(options, k) != saved.get(k)
    ]
    if data is not None:
        old = (state.get("data") or {}).get("hash")
        if old is None:
            why.append("the run records no data hash (written by an older version)")
        elif old != data:
            why.append(f"the data in --shards {options.shards} changed")
    total, done = options.total_nimg(), int(state["counters"]["nimg"])
    if total < saved_total_nimg(saved) and done > total:
        why.append(f"it has trained {done / 1000:.3f} kimg, more than the {total / 1000:.3f} now asked for")
    return why


def supersede(out: Path) -> Path:
    """Move the run folder `out` aside to `<out>.superseded-<UTC time>` (a new name if taken)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = out.with_name(f"{out.name}.superseded-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = out.with_name(f"{out.name}.superseded-{stamp}-{n}")
    out.rename(target)
    return target


def resolve_resume(
    options: Any, run: RunDir, explicit: set[str], identity: tuple[str, ...], kind: str,
    data: str | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:  # fmt: skip
    """(the snapshot state to continue from or None for a new run, why the run in --out must be set
    aside). Identity options are merged into `options` from the snapshot. `options.resume` is None,
    "auto" or a snapshot file / run directory; `data` is the data hash of --shards.

    Only with `--resume auto --on-change restart` can the second item be non-empty: the caller then
    moves the old run aside (`supersede`) and starts a new one."""
    resume = options.resume
    if resume is None:
        if run.latest_snapshot() is not None:
            raise UserError(
                f"--out {options.out} already holds a run; pass --resume auto to continue it or choose another --out"
            )
        return None, []
    if resume == "auto":
        snap = run.latest_snapshot()
        if snap is None:
            return None, []
    else:
        snap = find_snapshot(resume)
    state = load_snapshot(snap, kind)
    if getattr(options, "on_change", "fail") == "restart" and resume == "auto":
        why = changes(options, state, explicit, identity, data)
        if why:
            return None, why
    saved = state["options"]
    for k in identity:
        if k in explicit and getattr(options, k) != saved.get(k):
            raise UserError(
                f"--{k.replace('_', '-')} {getattr(options, k)} differs from the run being resumed "
                f"({saved.get(k)}, in {snap}); drop the option, pass --on-change restart or start a new "
                "run with another --out"
            )
        if k in saved:
            setattr(options, k, saved[k])
    state["path"] = str(snap)
    return state, []


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
