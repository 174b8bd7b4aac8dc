"""Run-level steps every trainer repeats: starting the processes, picking the snapshot to resume,
the run's header, the G/D pair's wrapping and snapshot, and the NaN stop at a tick.

Generic over the trainer: the snapshot `kind`, the options object (a `RunOptions` dataclass) and
the names of the options that define a run (`identity`: taken from the snapshot on resume, and an
error when given differently on the command line).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import UserError
from train.engine import distributed, rng
from train.engine.console import print_options
from train.engine.distributed import Dist
from train.engine.guard import NonFiniteGuard
from train.engine.rundir import RunDir, find_snapshot, load_snapshot

SNAPSHOT_FORMAT = 1


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


def wrap_pair(d: Dist, G: Any, D: Any, compile: bool) -> tuple[Any, Any, Any]:
    """(G as trained, D in its own step, D inside G's step): DDP on several processes for the first
    two; the third is never DDP (its weight gradients are not needed); all compiled with --compile."""
    import torch

    G_t, D_t, D_frozen = distributed.wrap_ddp(d, G), distributed.wrap_ddp(d, D), D
    if compile:
        G_t, D_t, D_frozen = torch.compile(G_t), torch.compile(D_t), torch.compile(D)
    return G_t, D_t, D_frozen


def cpu_state(sd: dict[str, Any]) -> dict[str, Any]:
    """A state dict with its tensors on the CPU."""
    import torch

    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in sd.items()}


def pair_snapshot(kind: str, o: Any, nets: Any, counters: dict[str, Any]) -> dict[str, Any]:
    """The snapshot fields of a G/D pair trained with two optimisers (`nets.G_raw`, `nets.D_raw`,
    `nets.opt_g`, `nets.opt_d`), with the options, counters and every RNG state."""
    return {
        "kind": kind,
        "format": SNAPSHOT_FORMAT,
        "options": dataclasses.asdict(o),
        "G": cpu_state(nets.G_raw.state_dict()),
        "D": cpu_state(nets.D_raw.state_dict()),
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
        "counters": dict(counters),
        "rng": rng.capture(),
    }


def restore_pair(state: dict[str, Any], G: Any, D: Any, opt_g: Any, opt_d: Any) -> dict[str, Any]:
    """Load a `pair_snapshot` into the models and optimisers; returns its counters."""
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    return dict(state["counters"])


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
            f"{where}; resume it with --precision fp32 --resume auto, or start a new run (another --out) with a lower --lr"
        )
