"""Decode a (small) dataset once into one tensor per field and sample batches from it.

96x96 faces are 27 KiB each, so 300k of them (about 8 GB) fit in GPU memory: the data then
never crosses PCIe again and a batch is a single `index_select` on the device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from core.errors import UserError
from train.data.decode import collate, is_image_field, is_npy_field
from train.data.source import ShardSource, iter_samples


def _read_samples(path: str, fields: set[str]) -> list[dict[str, Any]]:
    """All samples of one shard as {"__key__", "__url__", field: bytes}, reading only `fields`."""
    return [{"__key__": key, "__url__": path, **files} for key, files in iter_samples(path, fields)]


_CHUNK = 256


class _WholeShards(Dataset):
    """Item i = shard i decoded into a list of batch dicts."""

    def __init__(self, src: ShardSource, fields: Sequence[str]) -> None:
        self.src = src
        self.fields = tuple(fields)

    def __len__(self) -> int:
        return len(self.src.shards)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        samples = _read_samples(self.src.shards[i], set(self.fields))
        # chunks keep each batch buffer small enough to stay in cache while it is copied out
        return [
            collate(samples[j : j + _CHUNK], self.fields, self.src.image_sizes, self.src.channels)
            for j in range(0, len(samples), _CHUNK)
        ]


def load_into_memory(
    src: ShardSource,
    device: str | torch.device = "cpu",
    fields: Sequence[str] | None = None,
    workers: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode every sample once, in index order: {field: tensor [N, ...]} for image fields (uint8
    [N, C, H, W]) and `.npy` fields (float32), lists for other fields, plus `__key__` (list[str]).

    Tensors are filled shard by shard into storage allocated once on `device`, so the dataset
    is never held twice. `workers` > 0 decodes shards in parallel (same result).
    """
    from tqdm import tqdm

    fields = tuple(fields) if fields is not None else src.fields
    device = torch.device(device)
    n = src.num_samples
    out: dict[str, Any] = {"__key__": []}
    for f in fields:
        if is_image_field(f):
            h, w = src.image_sizes[f]
            out[f] = torch.empty((n, src.channels[f], h, w), dtype=torch.uint8, device=device)
        elif not is_npy_field(f):
            out[f] = []
    loader = DataLoader(_WholeShards(src, fields), batch_size=None, num_workers=workers)
    pos = 0
    bar = tqdm(loader, total=len(src.shards), desc="load", unit="shard", disable=not progress, leave=False)
    for i, chunks in enumerate(bar):
        m = sum(len(c["__key__"]) for c in chunks)
        if m != src.sizes[i]:
            raise UserError(
                f"shard {src.shards[i]} holds {m} samples but its index says {src.sizes[i]}; rebuild the shards"
            )
        for part in chunks:
            pos = _store(out, part, fields, n, pos, device)
    return out


def _store(
    out: dict[str, Any], part: dict[str, Any], fields: Sequence[str], n: int, pos: int, device: torch.device
) -> int:
    """Copy one decoded batch into `out` at `pos`; returns the next position."""
    m = len(part["__key__"])
    for f in fields:
        value = part[f]
        if is_image_field(f) or is_npy_field(f):
            if f not in out:  # .npy shapes are only known once one is decoded
                out[f] = torch.empty((n, *value.shape[1:]), dtype=value.dtype, device=device)
            out[f][pos : pos + m].copy_(value)
        else:
            out[f].extend(value)
    out["__key__"].extend(part["__key__"])
    return pos + m


def _perm_seed(seed: int, cycle: int) -> int:
    digest = hashlib.sha256(f"memory-batches-{seed}-{cycle}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class MemoryBatches:
    """Infinite batches sampled from tensors already in memory (see `load_into_memory`).

    The index stream is an endless concatenation of random permutations of 0..N-1 (one per
    "cycle", seeded by (seed, cycle)); batch k of rank r takes positions (k*W + r)*B ... + B.
    So within a cycle every sample is used once and ranks never share a sample, and batch k is
    a pure function of (seed, k, rank, world_size, batch_size): pass `start_batch` to resume.
    Batches hold the tensor fields plus `__index__` (the sample indices, on the data's device).
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        batch_size: int = 64,
        seed: int = 0,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        fields: Sequence[str] | None = None,
    ) -> None:
        names = [f for f in (fields or data) if isinstance(data[f], torch.Tensor)]
        if not names:
            raise ValueError("MemoryBatches needs at least one tensor field in `data`")
        self.tensors = {f: data[f] for f in names}
        sizes = {t.shape[0] for t in self.tensors.values()}
        if len(sizes) != 1:
            raise ValueError(
                f"tensor fields differ in length: { {f: t.shape[0] for f, t in self.tensors.items()} }"
            )
        self.num_samples = sizes.pop()
        if self.num_samples == 0:
            raise ValueError("MemoryBatches got an empty dataset")
        if batch_size < 1 or not 0 <= rank < world_size or start_batch < 0:
            raise ValueError(
                f"bad batch_size={batch_size}, rank={rank}/{world_size} or start_batch={start_batch}"
            )
        self.batch_size = batch_size
        self.seed = seed
        self.start_batch = start_batch
        self.rank = rank
        self.world_size = world_size
        self.device = next(iter(self.tensors.values())).device
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, cycle: int) -> torch.Tensor:
        perm = self._perms.get(cycle)
        if perm is None:
            g = torch.Generator().manual_seed(_perm_seed(self.seed, cycle))
            # permutations are drawn on the CPU so that the order does not depend on the device
            perm = torch.randperm(self.num_samples, generator=g).to(self.device)
            if len(self._perms) >= 4:
                self._perms.pop(min(self._perms))
            self._perms[cycle] = perm
        return perm

    def indices(self, k: int) -> torch.Tensor:
        """Sample indices of batch k of this rank (on the data's device)."""
        n, b = self.num_samples, self.batch_size
        start = (k * self.world_size + self.rank) * b
        parts = []
        pos, end = start, start + b
        while pos < end:
            cycle, offset = divmod(pos, n)
            take = min(end - pos, n - offset)
            parts.append(self._perm(cycle)[offset : offset + take])
            pos += take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def batch(self, k: int) -> dict[str, torch.Tensor]:
        """Batch k of this rank: {field: tensor [B, ...], "__index__": indices}."""
        idx = self.indices(k)
        out = {f: t.index_select(0, idx) for f, t in self.tensors.items()}
        out["__index__"] = idx
        return out

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        k = self.start_batch
        while True:
            yield self.batch(k)
            k += 1
