"""Capture and restore RNG states as tensors/ints only, so snapshots load with `weights_only=True`."""

from __future__ import annotations

import random
from typing import Any


def capture(generators: dict[str, Any] | None = None) -> dict[str, Any]:
    """torch CPU/CUDA global states, Python's `random`, and any named torch.Generator objects."""
    import torch

    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": _py_state_to_list(random.getstate()),
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any], generators: dict[str, Any] | None = None) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(_py_state_from_list(state["python"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    for k, g in (generators or {}).items():
        if k in state["generators"]:
            g.set_state(state["generators"][k])


def _py_state_to_list(s: tuple) -> list:
    version, internal, gauss = s
    return [version, list(internal), gauss]


def _py_state_from_list(s: list) -> tuple:
    version, internal, gauss = s
    return (version, tuple(internal), gauss)
