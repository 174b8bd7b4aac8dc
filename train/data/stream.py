"""Streaming shards with webdataset into batched tensors (`make_loader`).

Pipeline, per DataLoader worker: shard urls -> webdataset tar reading and grouping by key ->
seeded shuffle buffer -> batches decoded with OpenCV in one step (no per-sample pipeline stages).

Splitting and determinism:

- Non-resampled (one epoch): the shard list is shuffled by (seed, epoch), rank r takes shards
  r, r+W, ... and worker w of that rank every `workers`-th of those, so every sample is seen once
  per epoch over all ranks and workers. Ranks may hold different numbers of samples (uneven
  shard counts); with `even_ranks` (default) every rank stops after the smallest rank's number
  of batches, so a DDP collective never waits on a rank that has finished (the surplus tail is
  dropped). `len(loader)` is that number.
- Resampled (infinite, for step-based training): each (rank, worker) walks its own endless
  sequence of shuffled passes over all shards, seeded by (seed, epoch, rank, worker). Nothing
  ends, so uneven shard counts cannot hang a rank. Batch k of a rank is a pure function of
  (seed, epoch, rank, workers, batch_size, k): `start_batch=k` resumes exactly there, given
  the same number of workers.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from webdataset import filters, tariterators

from train.data.decode import DecodeError, collate
from train.data.remote import open_streams
from train.data.source import ShardSource

_READ_BUFFER = 1 << 20


def _rng(*parts: object) -> random.Random:
    # str seeds are hashed with sha512: stable across processes and Python runs
    return random.Random("-".join(str(p) for p in parts))


def epoch_shard_order(src: ShardSource, seed: int, epoch: int, shuffle: bool) -> list[int]:
    """Indices of non-empty shards in the order an epoch reads them."""
    order = [i for i, n in enumerate(src.sizes) if n > 0]
    if shuffle:
        _rng("shards", seed, epoch).shuffle(order)
    return order


def assign_shards(order: Sequence[int], rank: int, world_size: int, worker: int, workers: int) -> list[int]:
    """The shards (from an epoch order) that one worker of one rank reads."""
    return list(order[rank::world_size][worker::workers])


def _batches_of(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def rank_batches(
    src: ShardSource,
    order: Sequence[int],
    rank: int,
    world_size: int,
    workers: int,
    batch_size: int,
    drop_last: bool,
) -> int:
    """Batches one rank yields in a non-resampled epoch (batches are formed inside each worker)."""
    nw = max(workers, 1)
    return sum(
        _batches_of(
            sum(src.sizes[i] for i in assign_shards(order, rank, world_size, w, nw)), batch_size, drop_last
        )
        for w in range(nw)
    )


def _resampled_urls(shards: Sequence[str], rng: random.Random) -> Iterator[dict[str, str]]:
    while True:
        order = list(shards)
        rng.shuffle(order)
        for url in order:
            yield {"url": url}


class ShardStream(IterableDataset):
    """The per-worker pipeline; yields finished batch dicts."""

    def __init__(
        self,
        src: ShardSource,
        fields: Sequence[str],
        batch_size: int,
        seed: int,
        epoch: int,
        resampled: bool,
        rank: int,
        world_size: int,
        shuffle_buffer: int,
        drop_last: bool,
        start_batch: int,
    ) -> None:
        super().__init__()
        self.src = src
        self.fields = tuple(fields)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.resampled = resampled
        self.rank = rank
        self.world_size = world_size
        self.shuffle_buffer = shuffle_buffer
        self.drop_last = drop_last
        self.start_batch = start_batch

    def _urls(self, worker: int, workers: int) -> tuple[Iterator[dict[str, str]], int, int]:
        """(url stream, virtual worker id, batches to skip)."""
        if self.resampled:
            # DataLoader hands out batches round-robin over workers, so global batch k comes from
            # worker k % workers. Resuming at start_batch, our worker w plays the role of the
            # original worker (start_batch + w) % workers and skips the batches it already gave.
            vworker = (self.start_batch + worker) % workers
            skip = (self.start_batch + worker) // workers
            nonempty = [u for u, n in zip(self.src.shards, self.src.sizes, strict=True) if n > 0]
            rng = _rng("resample", self.seed, self.epoch, self.rank, vworker)
            return _resampled_urls(nonempty, rng), vworker, skip
        order = epoch_shard_order(self.src, self.seed, self.epoch, self.shuffle_buffer > 1)
        mine = assign_shards(order, self.rank, self.world_size, worker, workers)
        return iter([{"url": self.src.shards[i]} for i in mine]), worker, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        urls, vworker, skip = self._urls(worker, workers)
        wanted = set(self.fields)

        def select(fname: str) -> bool:
            return fname.rsplit("/", 1)[-1].partition(".")[2].lower() in wanted

        streams = open_streams(urls, bufsize=_READ_BUFFER)  # local paths and URLs
        files = tariterators.tar_file_expander(streams, select_files=select)
        samples: Iterator[dict[str, Any]] = tariterators.group_by_keys(files)
        if self.shuffle_buffer > 1:
            rng = _rng("samples", self.seed, self.epoch, self.rank, vworker)
            initial = min(self.shuffle_buffer, 100)
            samples = filters.shuffle(self.shuffle_buffer, initial=initial, rng=rng)(samples)
        if skip:
            samples = itertools.islice(samples, skip * self.batch_size, None)
        sizes, channels = self.src.image_sizes, self.src.channels
        while True:
            chunk = list(itertools.islice(samples, self.batch_size))
            if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                return
            yield collate(chunk, self.fields, sizes, channels)


class ShardLoader:
    """Iterable of batch dicts over a `ShardStream`, run in DataLoader workers."""

    def __init__(self, stream: ShardStream, workers: int, pin_memory: bool, num_batches: int | None) -> None:
        self.stream = stream
        self.workers = workers
        self.num_batches = num_batches
        """Batches per epoch (non-resampled), None when infinite."""
        self.loader = DataLoader(
            stream,
            batch_size=None,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=pin_memory,
            prefetch_factor=4 if workers > 0 else None,
            # Workers start from a clean forkserver process, not a fork of this one: a child forked
            # after the parent used OpenCV's or OpenMP's thread pools can hang in its first call
            # into them. The price is a one-off import of torch and cv2 per (persistent) worker.
            multiprocessing_context="forkserver" if workers > 0 else None,
        )

    @property
    def batch_size(self) -> int:
        return self.stream.batch_size

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("a resampled loader is infinite and has no length")
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, Any]]:
        it: Iterator[dict[str, Any]] = iter(self.loader)
        if self.num_batches is not None:
            it = itertools.islice(it, self.num_batches)
        try:
            yield from it
        except DecodeError as e:
            # from a worker the message carries the worker's traceback: keep its last line only
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            last = lines[-1] if lines else "undecodable sample"
            raise DecodeError(last.removeprefix(f"{DecodeError.__module__}.DecodeError: ")) from None

    def close(self) -> None:
        """Stop the worker processes now (they also stop when the loader is garbage-collected)."""
        it = getattr(self.loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self.loader._iterator = None


def make_loader(
    src: ShardSource,
    batch_size: int = 64,
    seed: int = 0,
    workers: int = 2,
    resampled: bool = True,
    rank: int = 0,
    world_size: int = 1,
    shuffle_buffer: int = 1000,
    drop_last: bool = True,
    epoch: int = 0,
    fields: Sequence[str] | None = None,
    start_batch: int = 0,
    even_ranks: bool = True,
    pin_memory: bool | None = None,
) -> ShardLoader:
    """Batches of `src` as dicts: images uint8 [B, C, H, W], `.npy` float32 [B, ...], `json` list[dict],
    `__key__` list[str]. See the module docstring for splitting, resampling and resuming.

    `shuffle_buffer` <= 1 turns shuffling off (shards and samples in index order).
    `fields` defaults to `src.fields`. `pin_memory` defaults to "CUDA is available".
    """
    fields = tuple(fields) if fields is not None else src.fields
    unknown = [f for f in fields if f not in src.fields]
    if unknown:
        raise ValueError(f"fields {unknown} were not checked by open_shards (it checked {list(src.fields)})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world_size {world_size}")
    if start_batch and not resampled:
        raise ValueError("start_batch needs resampled=True (a finite epoch restarts with `epoch`)")
    num_batches = None
    if not resampled:
        order = epoch_shard_order(src, seed, epoch, shuffle_buffer > 1)
        counts = [
            rank_batches(src, order, r, world_size, workers, batch_size, drop_last) for r in range(world_size)
        ]
        num_batches = min(counts) if even_ranks else counts[rank]
    stream = ShardStream(
        src,
        fields,
        batch_size,
        seed,
        epoch,
        resampled,
        rank,
        world_size,
        shuffle_buffer,
        drop_last,
        start_batch,
    )
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return ShardLoader(stream, workers, pin_memory, num_batches)
