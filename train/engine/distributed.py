"""Data-parallel set-up from the environment `torchrun` provides (RANK, WORLD_SIZE, LOCAL_RANK)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dist:
    """Where this process sits: rank 0 of 1 when not started by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str) -> Dist:
    """Join the process group when WORLD_SIZE > 1: NCCL on CUDA (one GPU per local rank), gloo on CPU."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=device)
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return Dist(rank=rank, world_size=world, local_rank=local, device=device)


def barrier(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_sum(d: Dist, t: Any) -> Any:
    """Sum a tensor across ranks in place (no-op on one process)."""
    if d.enabled:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


def gather_states(d: Dist, state: Any) -> list[Any]:
    """Every rank's CPU tensor (e.g. an RNG state), in rank order; only rank 0's list is filled."""
    if not d.enabled:
        return [state]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, state)
    return out if d.is_main else []


def wrap_ddp(d: Dist, module: Any) -> Any:
    """Wrap a module in DistributedDataParallel when running on several processes."""
    if not d.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [d.local_rank] if d.device.startswith("cuda") else None
    return DDP(module, device_ids=ids, broadcast_buffers=False)


def unwrap(module: Any) -> Any:
    """The plain module inside DDP / torch.compile wrappers."""
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


def cleanup(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
