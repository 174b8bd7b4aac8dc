"""Run-level steps every trainer repeats: picking the snapshot to resume, and the NaN stop at a tick.

Generic over the trainer: the snapshot `kind`, the options object (a dataclass) and the names of
the options that define a run (`identity`: taken from the snapshot on resume, and an error when
given differently on the command line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prep.errors import UserError
from train.engine.distributed import Dist
from train.engine.guard import NonFiniteGuard
from train.engine.rundir import RunDir, find_snapshot, load_snapshot


def resolve_resume(
    options: Any, run: RunDir, explicit: set[str], identity: tuple[str, ...], kind: str
) -> dict[str, Any] | None:
    """The snapshot state to continue from (None for a new run); identity options are merged into
    `options` from the snapshot. `options.resume` is None, "auto" or a snapshot file / run directory."""
    resume = options.resume
    if resume is None:
        if run.latest_snapshot() is not None:
            raise UserError(
                f"--out {options.out} already holds a run; pass --resume auto to continue it or choose another --out"
            )
        return None
    if resume == "auto":
        snap = run.latest_snapshot()
        if snap is None:
            return None
    else:
        snap = find_snapshot(resume)
    state = load_snapshot(snap, kind)
    saved = state["options"]
    for k in identity:
        if k in explicit and getattr(options, k) != saved.get(k):
            raise UserError(
                f"--{k.replace('_', '-')} {getattr(options, k)} differs from the run being resumed "
                f"({saved.get(k)}, in {snap}); drop the option or start a new run with another --out"
            )
        if k in saved:
            setattr(options, k, saved[k])
    state["path"] = str(snap)
    return state


def stop_if_nonfinite(guard: NonFiniteGuard, d: Dist, nimg: int, last_snap: Path | None) -> None:
    """At a tick (a sync point anyway): UserError naming the first bad step (over all ranks) and the
    last good snapshot, which is kept as it is."""
    import torch

    bad = torch.tensor([guard.first_bad.item() + 1], device=guard.first_bad.device)  # 0: none
    if d.enabled:
        import torch.distributed as tdist

        tdist.all_reduce(bad, op=tdist.ReduceOp.MAX)
    if int(bad.item()) > 0:
        where = f"the last good snapshot {last_snap} is kept" if last_snap else "no snapshot was written yet"
        raise UserError(
            f"non-finite loss at step {int(bad.item()) - 1} (about kimg {nimg / 1000:.3f}): training stopped; "
            f"{where}; try a lower --lr or --precision fp32 and --resume auto"
        )
