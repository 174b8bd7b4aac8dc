"""`--data auto|memory|stream`: decode the shards once into device memory, or stream them.

Both paths resume at batch `start_step` of the same sequence (see `train.loader`); the trainer
picks the fields and what it does with the data (e.g. holding out validation samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from train.engine.distributed import Dist
from train.engine.options import RunOptions


def memory_mode(o: RunOptions, nbytes: int, device: str) -> bool:
    """Whether to decode into memory: --data memory, or --data auto and `nbytes` fits the budget
    (--memory-budget-gb; by default half the GPU memory on CUDA, 4 GiB on CPU)."""
    if o.data != "auto":
        return o.data == "memory"
    budget = o.memory_budget_gb * 2**30
    if budget <= 0:
        if device.startswith("cuda"):
            import torch

            budget = torch.cuda.get_device_properties(device).total_memory / 2
        else:
            budget = 4 * 2**30
    return nbytes <= budget


def load_memory(o: RunOptions, src: Any, device: str, d: Dist, fields: Sequence[str]) -> dict[str, Any]:
    """Every sample's `fields` decoded into one tensor per field on `device`."""
    from train.loader import load_into_memory

    return load_into_memory(
        src, device=device, fields=tuple(fields), workers=o.workers, progress=o.progress and d.is_main
    )


def memory_batches(
    o: RunOptions, data: dict[str, Any], per_rank: int, d: Dist, start_step: int, fields: Sequence[str]
) -> Any:
    """Endless batches of this rank drawn from in-memory tensors; batch k is a function of (seed, k, rank)."""
    from train.loader import MemoryBatches

    return iter(MemoryBatches(data, per_rank, o.seed, start_step, d.rank, d.world_size, fields=tuple(fields)))


def stream_batches(
    o: RunOptions, src: Any, per_rank: int, d: Dist, start_step: int, fields: Sequence[str]
) -> Closing:
    """Endless (resampled) batches of this rank streamed from the shards by --workers processes."""
    from train.loader import make_loader

    loader = make_loader(
        src, batch_size=per_rank, seed=o.seed, workers=o.workers, resampled=True, rank=d.rank,
        world_size=d.world_size, start_batch=start_step, fields=tuple(fields),
    )  # fmt: skip
    return Closing(loader)


class Closing:
    """An iterator over a loader that can stop the loader's worker processes."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.it = loader, iter(loader)

    def __iter__(self) -> Closing:
        return self

    def __next__(self) -> Any:
        return next(self.it)

    def close(self) -> None:
        self.loader.close()


def close_batches(batches: Any) -> None:
    """Stop a batch iterator's workers, if it has any."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()
