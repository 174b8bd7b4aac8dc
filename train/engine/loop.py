"""The bookkeeping of a training loop: counters, ticks and snapshots in kimg, timing, progress bar.

`train.engine.training_loop` drives it so (a trainer with a loop of its own may too):

    clock = Clock(o, counters, nstats=6, desc="dcgan", d=d)
    try:
        while not clock.done:
            batch = clock.next_batch(batches)
            ...one step...
            clock.observe(loss_d, loss_g)        # NaN/inf check, recorded on the device
            clock.add(stats)                     # a device tensor of figures, summed until the tick
            clock.advance()
            is_snap = clock.snap_due()
            if not (clock.tick_due() or is_snap):
                continue
            record, means = clock.tick(last_snap)   # the one host sync per tick
            ...
    finally:
        clock.close()

Counters (`nimg`, `step`, `tick`, `time_s`) live in the dict the trainer saves in its snapshots,
so a resumed run continues them; intervals fire when the image count crosses a boundary.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from train.engine import distributed
from train.engine.distributed import Dist
from train.engine.guard import NonFiniteGuard
from train.engine.meters import TickTimer, memory_stats
from train.engine.options import RunOptions
from train.engine.schedule import Every
from train.engine.session import stop_if_nonfinite

NAN_ENV = "TRAIN_DEBUG_NAN_STEP"


def new_counters() -> dict[str, Any]:
    return {"nimg": 0, "step": 0, "tick": 0, "time_s": 0.0}


class Clock:
    """Where a run stands and when it ticks; rank 0 alone shows the progress bar."""

    def __init__(self, o: RunOptions, counters: dict[str, Any], nstats: int, desc: str, d: Dist) -> None:
        import torch
        from tqdm import tqdm

        self.o, self.d, self.counters = o, d, counters
        self.total_nimg = o.total_nimg()
        nimg = counters["nimg"]
        self.tick_every, self.snap_every = Every(o.tick_kimg, nimg), Every(o.snap_kimg, nimg)
        self.timer = TickTimer()
        self.guard = NonFiniteGuard(d.device)
        self.acc = torch.zeros(nstats, device=d.device)
        self.acc_steps, self.tick_nimg0 = 0, nimg
        self.t_start = time.perf_counter() - counters["time_s"]
        self.nan_step = o.debug_nan_step if o.debug_nan_step is not None else env_int(NAN_ENV)
        self.sync = torch.cuda.synchronize if d.device.startswith("cuda") else None
        self.bar = tqdm(total=self.total_nimg, initial=min(nimg, self.total_nimg), unit="img",
                        unit_scale=True, desc=desc, disable=not (o.progress and d.is_main),
                        dynamic_ncols=True)  # fmt: skip

    @property
    def done(self) -> bool:
        return self.counters["nimg"] >= self.total_nimg

    @property
    def nan_now(self) -> bool:
        """Whether this step's losses are to be made NaN (--debug-nan-step, $TRAIN_DEBUG_NAN_STEP)."""
        return self.counters["step"] == self.nan_step

    def next_batch(self, batches: Any) -> Any:
        """The next batch; the time spent waiting for it is the tick's data-wait share."""
        with self.timer.waiting():
            return next(batches)

    def observe(self, *losses: Any) -> None:
        """Remember this step if a loss is not finite (checked at the next tick, without a sync now)."""
        self.guard.observe(self.counters["step"], *losses)

    def add(self, stats: Any) -> None:
        """Sum a step's figures (a device tensor of `nstats` values) until the next tick."""
        self.acc += stats
        self.acc_steps += 1

    def advance(self) -> None:
        """One step of --batch images done."""
        self.counters["step"] += 1
        self.counters["nimg"] += self.o.batch
        self.bar.update(min(self.o.batch, self.total_nimg - self.bar.n))

    def tick_due(self) -> bool:
        return self.tick_every.due(self.counters["nimg"])

    def snap_due(self) -> bool:
        """A snapshot is due every --snap-kimg, and at the end of the run."""
        return self.snap_every.due(self.counters["nimg"]) or self.done

    def tick(self, last_snap: Path | None) -> tuple[dict[str, Any], list[float]]:
        """The tick's base stats record and the means of the summed figures over steps and ranks;
        a UserError if a loss went non-finite (naming the last good snapshot)."""
        c, d = self.counters, self.d
        dt, wait_share = self.timer.read(self.sync)
        distributed.all_reduce_sum(d, self.acc)
        stop_if_nonfinite(self.guard, d, c["nimg"], last_snap)
        means = (self.acc / (self.acc_steps * d.world_size)).tolist()
        c["tick"] += 1
        c["time_s"] = time.perf_counter() - self.t_start
        record = {
            "tick": c["tick"], "step": c["step"], "nimg": c["nimg"], "kimg": round(c["nimg"] / 1000, 3),
            "time_s": round(c["time_s"], 3), "img_per_s": round((c["nimg"] - self.tick_nimg0) / max(dt, 1e-9), 2),
            "data_wait": round(wait_share, 4), "sec_per_tick": round(dt, 3), **memory_stats(d.device),
        }  # fmt: skip
        self.acc.zero_()
        self.acc_steps, self.tick_nimg0 = 0, c["nimg"]
        return record, means

    def pause_done(self) -> None:
        """After snapshot or validation work: wait for every rank; that time is not training time."""
        distributed.barrier(self.d)
        self.timer.read()

    def write(self, line: str) -> None:
        if self.d.is_main:
            self.bar.write(line)

    def close(self) -> None:
        self.bar.close()

    def summary(self, out: Path, precision: str, last: dict[str, Any]) -> dict[str, Any]:
        """The run-level figures of the final `_stats.json` (the trainer adds its own)."""
        c = self.counters
        return {
            "out": str(out), "steps": c["step"], "kimg": round(c["nimg"] / 1000, 3),
            "time_s": round(c["time_s"], 1), "img_per_s": last.get("img_per_s"),
            "snapshot": last.get("snapshot"), "device": self.d.device, "precision": precision,
            "world_size": self.d.world_size,
        }  # fmt: skip


def tick_line(r: dict[str, Any], losses: str, extra: str | None = None) -> str:
    """The console line of a tick: position, the trainer's losses, speed, then `extra`."""
    parts = [f"tick {r['tick']:<4d} kimg {r['kimg']:<9.3f} step {r['step']:<7d}", losses]
    parts.append(f"{r['img_per_s']:.0f} img/s wait {100 * r['data_wait']:.1f}%")
    if extra:
        parts.append(extra)
    return "  ".join(parts)


def env_int(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v else None
