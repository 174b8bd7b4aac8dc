"""A snapshot's contents: every named network and optimiser, the counters, every RNG state, the data
hash, the options and the trainer's own fields; and putting them back.

    {"kind", "format", "options", "data": {"shards", "hash"}, "counters", "rng",
     <net name>: state_dict, ..., <optimiser name>: state_dict, ..., <generator>_per_rank: [state per rank],
     **trainer.extra_state()}

Snapshots of DCGAN and pix2pix runs written before the engine owned the loop have the same fields
(without "data") and load unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from train.engine import distributed, rng

SNAPSHOT_FORMAT = 1


def cpu_state(sd: dict[str, Any]) -> dict[str, Any]:
    """A state dict with its tensors on the CPU."""
    import torch

    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in sd.items()}


def gather_generators(t: Any) -> dict[str, list[Any]]:
    """Every rank's state of each per-rank generator (a collective: every rank calls it)."""
    return {name: distributed.gather_states(t.d, g.get_state()) for name, g in t.nets.gen.items()}


def capture(t: Any, gathered: dict[str, list[Any]] | None) -> dict[str, Any]:
    """The snapshot of trainer `t` (rank 0); `gathered`: from `gather_generators`, else this rank's only."""
    if gathered is None:
        gathered = {name: [g.get_state()] for name, g in t.nets.gen.items()}
    return {
        "kind": t.kind,
        "format": SNAPSHOT_FORMAT,
        "options": dataclasses.asdict(t.o),
        "data": t.data_id,
        **{name: cpu_state(net.state_dict()) for name, net in t.nets.raw.items()},
        **{name: opt.state_dict() for name, opt in t.nets.opt.items()},
        "counters": dict(t.counters),
        "rng": rng.capture(),
        **{f"{name}_per_rank": states for name, states in gathered.items()},
        **t.extra_state(),
    }


def restore(state: dict[str, Any], parts: Any, gens: dict[str, Any], d: Any) -> dict[str, Any]:
    """Load the named networks, optimisers and per-rank generators; returns the counters. A generator
    saved by another number of processes is made afresh from the resumed step."""
    for name, net in parts.nets.items():
        net.load_state_dict(state[name])
    for name, opt in parts.opts.items():
        opt.load_state_dict(state[name])
    counters = dict(state["counters"])
    for name, make in parts.generators.items():
        states = state.get(f"{name}_per_rank") or []
        if len(states) == d.world_size:
            gens[name].set_state(states[d.rank])
        else:
            gens[name] = make(counters["step"])
    return counters
