"""Per-tick figures: images/s, the share of wall time spent waiting for data, and memory."""

from __future__ import annotations

import resource
import sys
import time
from typing import Any


class TickTimer:
    """Accumulates data-wait time between `start` and `read`; `read` returns (seconds, wait share)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.wait = 0.0

    def waiting(self) -> _Wait:
        return _Wait(self)

    def read(self, sync: Any = None) -> tuple[float, float]:
        if sync is not None:
            sync()
        now = time.perf_counter()
        dt, share = now - self.t0, (self.wait / max(now - self.t0, 1e-9))
        self.t0, self.wait = now, 0.0
        return dt, share


class _Wait:
    def __init__(self, timer: TickTimer) -> None:
        self.timer = timer

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.wait += time.perf_counter() - self.t


def memory_stats(device: str) -> dict[str, float]:
    """Peak GPU memory (GiB) on CUDA; peak resident memory of the process (GiB) always."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_gib = rss / (1024**3 if sys.platform == "darwin" else 1024**2)
    out = {"rss_peak_gib": round(rss_gib, 3)}
    if device.startswith("cuda"):
        import torch

        out["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 3)
    return out
