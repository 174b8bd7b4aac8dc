"""The options every trainer shares: data, length, schedule, run directory, device, resume.

A trainer's options dataclass inherits `RunOptions` and adds its model's options; where its
defaults differ (folders, batch, length, intervals) it declares the field again with its own
default. Light module: no torch, so the CLI can import it at start-up.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from core.errors import UserError

DATA_MODES = ("auto", "memory", "stream")
RUN_IDENTITY = ("batch", "lr", "beta1", "beta2", "seed")
"""Run-level options that define a run: a resumed run takes them from its snapshot."""


@dataclass
class RunOptions:
    """Run-level options (the CLI fills them; each trainer's subclass sets its own defaults)."""

    shards: str = ""
    out: str = ""
    batch: int = 64
    """Total over all ranks; each rank takes batch / world_size."""
    lr: float = 2e-4
    """Adam for G and D: both trainers are GANs."""
    beta1: float = 0.5
    beta2: float = 0.999
    kimg: float = 1000.0
    steps: int | None = None
    """When given, overrides kimg: train until this many steps."""
    tick_kimg: float = 4.0
    snap_kimg: float = 50.0
    keep: int = 3
    data: str = "auto"
    memory_budget_gb: float = 0.0
    """0: half the GPU memory on CUDA, 4 GiB on CPU."""
    workers: int = 2
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    seed: int = 0
    resume: str | None = None
    progress: bool = True
    debug_nan_step: int | None = None
    """Testing aid: make the losses NaN at this step."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every option's default, by name."""
        return dataclasses.asdict(cls())

    def total_nimg(self) -> int:
        """Images to show in the whole run: --steps whole batches, else --kimg thousand."""
        return self.steps * self.batch if self.steps is not None else round(self.kimg * 1000)


def check_run_options(o: RunOptions) -> None:
    """UserError for run-level values no run can use (named after the CLI option)."""
    if o.data not in DATA_MODES:
        raise UserError(f"--data must be one of {', '.join(DATA_MODES)}, not {o.data!r}")
    if o.batch < 1:
        raise UserError(f"--batch must be at least 1, not {o.batch}")
    if o.lr <= 0 or not math.isfinite(o.lr):
        raise UserError(f"--lr must be a positive number, not {o.lr}")
    if o.steps is None and o.kimg <= 0:
        raise UserError(f"--kimg must be positive, not {o.kimg}")
    if o.steps is not None and o.steps < 1:
        raise UserError(f"--steps must be at least 1, not {o.steps}")
    if o.workers < 0:
        raise UserError(f"--workers must be 0 or more, not {o.workers}")
