"""What a trainer supplies to `train.engine.training_loop`: a `Trainer` subclass returning `Parts`.

The engine builds the trainer once per run, after resolving --resume, with the run's context as
attributes; then it calls the hooks in this order (see `training_loop.run` for the code):

    prepare()            check the data against the (resumed) options; extra "resolved" fields
    build() -> Parts     networks and optimisers by name, under torch.manual_seed(--seed)
    restore(state)       (resume only) the trainer's own snapshot fields
    batches(start_step)  the endless batch iterator, resuming at batch `start_step`
    begin() -> dict      fixed samples and metrics (after the RNG restore); figures of tick 0
    step(batch, nan)     one training step -> 1-D device tensor of `figures`
    on_tick(record)      every tick, every rank: add figures to the stats record
    evaluate(record)     rank 0, every `eval_kimg` (None: at each snapshot): metrics, grids
    extra_state()        rank 0: trainer fields stored in every snapshot
    summary(last)        trainer fields of `_stats.json`
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.engine.distributed import Dist
from train.engine.loop import tick_line
from train.engine.rundir import RunDir


@dataclass
class Parts:
    """A trainer's networks and optimisers, each saved in snapshots under its name."""

    nets: dict[str, Any]
    """Every network (placed on the device by the trainer), e.g. {"G": g, "D": d, "G_ema": g_ema}."""
    opts: dict[str, Any]
    """Every optimiser, e.g. {"opt_g": ..., "opt_d": ...}."""
    trained: tuple[str, ...] = ()
    """Networks trained by `step`: put in train mode, wrapped in DDP on several processes, compiled
    with --compile (`Nets[name]`); `Nets.local(name)` is the same network compiled but never DDP."""
    ema: dict[str, tuple[str, float, float | None]] = field(default_factory=dict)
    """{average: (source, half-life in kimg, ramp-up)}: the engine updates it after every step."""
    generators: dict[str, Callable[[int], Any]] = field(default_factory=dict)
    """Per-rank torch.Generators by name, each made from the step it starts at (0 for a new run; the
    step of a resumed run whose number of processes changed); saved as `<name>_per_rank`."""


@dataclass
class Nets:
    """The networks as the step uses them: `nets["D"]` as trained (maybe DDP/compiled), `nets.raw["D"]`
    the module itself, `nets.local("D")` compiled but never DDP (e.g. D inside G's step, whose weight
    gradients are not needed), `nets.opt["opt_d"]`, `nets.gen["noise"]`."""

    raw: dict[str, Any]
    opt: dict[str, Any]
    trained: dict[str, Any] = field(default_factory=dict)
    locals_: dict[str, Any] = field(default_factory=dict)
    gen: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.trained.get(name, self.raw[name])

    def local(self, name: str) -> Any:
        return self.locals_.get(name, self.raw[name])


class Trainer:
    """Base class of a trainer. Set the class attributes, implement `build`, `batches` and `step`;
    the other hooks are optional.

    Context set by the engine before `prepare`: `o` (the options, identity options merged from the
    snapshot), `d` (Dist), `device`, `precision`, `dir` (RunDir), `state` (the snapshot resumed from,
    or None), `per_rank` (this rank's batch). Before `batches`: `counters` (nimg, step, tick, time_s)
    and `nets` (`Nets`)."""

    kind: str = ""
    """Snapshot kind, the `train <kind>` summary line, `train-<kind>` in _stats.json, the bar's label."""
    figures: tuple[str, ...] = ()
    """What `step` returns, in order; averaged over each tick into the stats record."""
    guarded: int = 1
    """The first `guarded` figures are losses: a non-finite one stops the run at the next tick."""
    summary_keys: tuple[str, ...] = ("kimg", "steps", "img_per_s", "snapshot", "out")
    """The `_stats.json` fields on the summary line."""
    eval_kimg: float | None = None
    """Evaluate every this many kimg and at the end; None: at each snapshot."""

    o: Any
    d: Dist
    device: str
    precision: str
    dir: RunDir
    state: dict[str, Any] | None
    data_id: dict[str, Any]
    per_rank: int
    counters: dict[str, Any]
    nets: Nets

    @staticmethod
    def check(o: Any) -> None:
        """UserError for option values no run can use (called before and after resolving --resume)."""

    def prepare(self) -> dict[str, Any]:
        """Open and check the data against the options; returns extra fields of options.json's "resolved"."""
        return {}

    def build(self) -> Parts:
        raise NotImplementedError

    def restore(self, state: dict[str, Any]) -> None:
        """Read the trainer's own fields (those of `extra_state`) back from a snapshot."""

    def batches(self, start_step: int) -> Iterator[Any]:
        """Endless batches of this rank from batch `start_step` on (may have a `close()`)."""
        raise NotImplementedError

    def begin(self) -> dict[str, Any] | None:
        """Fixed samples and metric set-up; figures of the untrained model (written as tick 0 of a new run)."""
        return None

    def step(self, batch: Any, nan: bool) -> Any:
        """One step; `nan`: make the losses NaN (testing aid). Returns a tensor of `figures`."""
        raise NotImplementedError

    def on_tick(self, record: dict[str, Any]) -> None:
        """Add trainer figures to a tick's stats record (every rank)."""

    def evaluate(self, record: dict[str, Any]) -> None:
        """Rank 0: metrics (into `record`), grids, best snapshots."""

    def extra_state(self) -> dict[str, Any]:
        """Rank 0: trainer fields of every snapshot (no collective operations here)."""
        return {}

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        """Trainer fields of `_stats.json`; `last` is the last stats record."""
        return {}

    def tick_line(self, record: dict[str, Any]) -> str:
        """The console line of a tick."""
        losses = " ".join(f"{k} {record[k]:.3f}" for k in self.figures[: self.guarded] if k in record)
        return tick_line(record, losses)

    # -- what the engine offers the hooks --------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The full training state now (what network-snapshot-*.pt holds), e.g. for a best snapshot."""
        from train.engine.state import capture

        return capture(self, gathered=None)

    @property
    def out(self) -> Path:
        return self.dir.path
