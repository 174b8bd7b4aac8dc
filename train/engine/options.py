"""The options every trainer shares (data, length, schedule, run directory, device, resume), and how
an option is declared once: its default, CLI help and role live in the dataclass field.

    @dataclass
    class MyOptions(RunOptions):
        width: int = option(32, "Channels of the first layer.", identity=True)
        batch: int = 16        # a run-level option with this trainer's default (help from RunOptions)

`option(default, help, identity=..., flags=..., hidden=..., cli=...)` stores its settings in the field's
metadata; a field declared again without them keeps those of the class it overrides (see `meta`).
`identity=True` marks an option that defines the run: a resumed run takes it from its snapshot
(`train.engine.resume`). The CLI (`train.commands.common.command`) builds its options from the
fields. Light module: no torch, so the CLI can import it at start-up.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError

DATA_MODES = ("auto", "memory", "stream")
ON_CHANGE = ("fail", "restart")


def option(
    default: Any, help: str, *, identity: bool | None = None, flags: tuple[str, ...] | None = None,
    hidden: bool | None = None, cli: bool | None = None,
) -> Any:  # fmt: skip
    """A dataclass field with its CLI help; `identity`: the option defines the run; `flags`: the CLI's
    spelling (e.g. ("--compile",) for a flag without --no-compile); `hidden`: not in --help;
    `cli=False`: not a command-line option at all (set from Python only)."""
    given = {"identity": identity, "flags": flags, "hidden": hidden, "cli": cli}
    return field(
        default=default, metadata={"help": help, **{k: v for k, v in given.items() if v is not None}}
    )


def meta(cls: type, name: str) -> dict[str, Any]:
    """The option settings of field `name`, merged along the class's bases (subclass settings win)."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        f = klass.__dict__.get("__dataclass_fields__", {}).get(name)
        if f is not None:
            merged.update(f.metadata)
    return merged


def identity_names(cls: type) -> tuple[str, ...]:
    """The options that define a run of this options class."""
    return tuple(f.name for f in dataclasses.fields(cls) if meta(cls, f.name).get("identity"))


@dataclass
class RunOptions:
    """Run-level options (the CLI fills them; each trainer's subclass sets its own defaults)."""

    shards: str = option("", "Folder of shards (with shards.json) to train on.")
    out: str = option("", "Run directory: options, stats.jsonl, grids, snapshots.")
    batch: int = option(64, "Batch size over all processes.", identity=True)
    """Total over all ranks; each rank takes batch / world_size."""
    lr: float = option(2e-4, "Adam learning rate of G and D.", identity=True)
    beta1: float = option(0.5, "Adam beta1.", identity=True)
    beta2: float = option(0.999, "Adam beta2.", identity=True)
    kimg: float = option(1000.0, "Train until this many thousand images have been seen.")
    steps: int | None = option(None, "Train until this many steps instead of --kimg.")
    """When given, overrides kimg: train until this many steps."""
    tick_kimg: float = option(4.0, "Write a stats line every this many kimg.")
    snap_kimg: float = option(50.0, "Snapshot every this many kimg.")
    keep: int = option(3, "Snapshots to keep (0: all).")
    data: str = option("auto", "auto, memory (decode once into device memory) or stream.")
    memory_budget_gb: float = option(0.0, "Largest dataset --data auto keeps in memory (0: default).")
    """0: half the GPU memory on CUDA, 4 GiB on CPU."""
    workers: int = option(2, "Data loading processes per rank.")
    device: str = option("auto", "auto, cpu or cuda.")
    precision: str = option("auto", "auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32.")
    compile: bool = option(False, "torch.compile G and D.", flags=("--compile",))
    seed: int = option(0, "Seed of weights, noise and data order.", identity=True)
    resume: str | None = option(
        None, "'auto' continues the run in --out; or a snapshot file / run directory."
    )
    on_change: str = option(
        "fail",
        "With --resume auto, when the run in --out was made with other defining options or other data: "
        "fail (an error naming the option) or restart (set the old run aside as <out>.superseded-<time> "
        "and start a new one).",
    )
    progress: bool = option(True, "Show a progress bar.")
    debug_nan_step: int | None = option(None, "Testing aid: make the losses NaN at this step.", hidden=True)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every option's default, by name."""
        return dataclasses.asdict(cls())

    def total_nimg(self) -> int:
        """Images to show in the whole run: --steps whole batches, else --kimg thousand."""
        return self.steps * self.batch if self.steps is not None else round(self.kimg * 1000)


RUN_IDENTITY = identity_names(RunOptions)
"""Run-level options that define a run (kept for trainers that list their identity by hand)."""


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
    if o.on_change not in ON_CHANGE:
        raise UserError(f"--on-change must be one of {', '.join(ON_CHANGE)}, not {o.on_change!r}")
