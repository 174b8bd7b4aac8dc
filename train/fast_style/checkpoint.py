"""What a `train fast-style` snapshot holds, and loading its network for `train stylize`.

A snapshot (`network-snapshot-<kimg>.pt`, loaded with `weights_only=True`) is a dict with
`kind` "fast-style", `format`, `options` (the run's options), `net` (the transformer's
`width`/`blocks`/`antialias`; without `antialias`, from before it existed: the strided network),
`T` and `T_ema` (state dicts of the network as trained and of its moving
average), `opt` (Adam's state), `counters` and `rng` (every RNG state: exact resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import UserError

KIND = "fast-style"


def load_transformer(path: str | Path, device: str = "cpu", ema: bool = True) -> tuple[Any, dict[str, Any]]:
    """The (moving-average) transformer of a fast-style snapshot or run directory, in eval mode
    and frozen, and the snapshot's options (plus `snapshot`: the file it came from)."""
    from train.engine.rundir import find_snapshot, load_snapshot
    from train.models.transformer import TransformerNet

    snap = find_snapshot(path)
    state = load_snapshot(snap, KIND)
    try:
        net = TransformerNet.from_config(state["net"])
        net.load_state_dict(state["T_ema" if ema and state.get("T_ema") else "T"])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        raise UserError(
            f"{snap}: the fast-style weights do not fit the network the snapshot describes ({e}); "
            "give a snapshot written by `train fast-style`"
        ) from e
    net.requires_grad_(False).eval()
    return net.to(device), {**state["options"], "snapshot": str(snap)}
