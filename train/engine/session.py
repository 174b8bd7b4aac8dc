"""Run-level steps of a run: starting the processes, each rank's batch, the run's header, and the
NaN stop at a tick. `train.engine.training_loop` calls them; `run_training` and `resolve_resume` also
serve trainers that keep a loop of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import UserError
from train.engine import distributed, resume
from train.engine.console import print_options
from train.engine.distributed import Dist
from train.engine.guard import NonFiniteGuard
from train.engine.rundir import RunDir
from train.engine.state import SNAPSHOT_FORMAT, cpu_state

__all__ = ["SNAPSHOT_FORMAT", "announce", "cpu_state", "per_rank_batch", "resolve_resume", "run_training"]


def run_training(
    o: Any, explicit: set[str] | None, check: Callable[[Any], None], body: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """Check the options, resolve --device, join the process group (under torchrun), run
    `body(o, explicit, dist)` and leave the group however it ends."""
    from train.engine.device import resolve_device

    check(o)
    d = distributed.setup(resolve_device(o.device))
    try:
        return body(o, explicit or set(), d)
    finally:
        distributed.cleanup(d)


def per_rank_batch(batch: int, d: Dist) -> int:
    """Each rank's share of --batch (which must divide evenly)."""
    if batch % d.world_size:
        raise UserError(f"--batch {batch} must be divisible by the number of processes ({d.world_size})")
    return batch // d.world_size


def announce(kind: str, o: Any, run: RunDir, state: dict[str, Any] | None, resolved: dict[str, Any]) -> None:
    """Rank 0 prints the options (non-defaults highlighted) and writes options.json with `resolved`."""
    if not run.is_main:
        return
    opts = dataclasses.asdict(o)
    title = f"train {kind}: {'resuming ' + state['path'] if state else 'new run'} in {o.out}"
    print_options(title, opts, o.defaults())
    run.write_options({**opts, "resolved": resolved})


def resolve_resume(
    options: Any, run: RunDir, explicit: set[str], identity: tuple[str, ...], kind: str
) -> dict[str, Any] | None:
    """The snapshot state to continue from, for trainers with a loop of their own (`--on-change
    restart` is the engine's: here a run that no longer fits is an error)."""
    state, why = resume.resolve_resume(options, run, explicit, identity, kind)
    if why:
        raise UserError(
            f"the run in --out {options.out} no longer fits: {'; '.join(why)}; choose another --out"
        )
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
            f"{where}; resume it with --precision fp32 --resume auto, or start a new run (another --out) with a lower --lr"
        )
