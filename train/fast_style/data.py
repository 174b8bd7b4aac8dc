"""Content images for `train fast-style`: random square crops read straight from the shards.

Content shards (`prep images`) hold images of different shapes (short side `--size` of the stage),
so they are not batched by the shared loader (which needs one size per field). Instead:

- `ContentIndex` lists every image member of every shard (tar headers only: shard, byte offset,
  length, key); image fields are `jpg`, `jpeg`, `png` or `webp`. The first `holdout` keys in sorted
  order are held out of training (the samples grid stylises them); keys are content hashes, so
  that is a fixed random choice.
- Batch k is a pure function of (seed, k): the training images are visited in a random
  permutation per pass (seeded by (seed, pass)); each is resized so its short side is `size`,
  cropped at a position and flipped as drawn from a generator seeded by (seed, k, i). So a run
  resumed at step k continues the uninterrupted one whatever the number of loader workers.
- `content_batches` runs that function in DataLoader workers (forkserver, as the shared loader).
"""

from __future__ import annotations

import hashlib
import itertools
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from core.errors import UserError
from core.shards import shard_paths

IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp")


@dataclass(frozen=True)
class Entry:
    shard: str
    offset: int
    size: int
    key: str


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("-".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class ContentIndex:
    """Every content image of a shard folder, split into training and held-out images."""

    def __init__(self, folder: str | Path, holdout: int) -> None:
        folder = Path(folder)
        if not folder.exists():
            raise UserError(f"--shards {folder}: no such folder; build it with `prep images --out {folder}`")
        try:
            paths = shard_paths(folder) if folder.is_dir() else [folder]
        except ValueError as e:
            raise UserError(f"--shards {folder}: {e}; rebuild it with `prep images`") from e
        entries: list[Entry] = []
        for p in paths:
            try:
                with tarfile.open(p, mode="r:") as tar:
                    for m in tar:
                        key, _, ext = Path(m.name).name.partition(".")
                        if m.isfile() and ext.lower() in IMAGE_FIELDS:
                            entries.append(Entry(str(p), m.offset_data, m.size, key))
            except (OSError, tarfile.TarError) as e:
                raise UserError(
                    f"--shards {folder}: cannot read shard {p} ({e}); check it with `prep verify`"
                ) from e
        if not entries:
            raise UserError(
                f"--shards {folder}: no content images (no shards, or shards without .jpg/.png samples); "
                "build them with `prep images --src YOUR_PHOTOS`"
            )
        entries.sort(key=lambda e: e.key)
        n_hold = min(holdout, len(entries) // 2)
        self.heldout, self.train = entries[:n_hold], entries[n_hold:]

    def __len__(self) -> int:
        return len(self.train)


def read_image(e: Entry) -> np.ndarray:
    """HxWx3 uint8 RGB of one entry; UserError if it does not decode."""
    with open(e.shard, "rb") as f:
        f.seek(e.offset)
        data = f.read(e.size)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"{e.shard}: sample {e.key} does not decode; check the shards with `prep verify`")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def fit_short_side(img: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the shorter side is `size` (area averaging down, bicubic up)."""
    h, w = img.shape[:2]
    if min(h, w) == size:
        return img
    s = size / min(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(size, round(w * s)), max(size, round(h * s))), interpolation=interp)


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    img = fit_short_side(img, size)
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return img[y : y + size, x : x + size]


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """HxWx3 uint8 arrays -> uint8 [B, 3, H, W]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


class ContentBatches(torch.utils.data.Dataset):
    """Item k = training batch k: uint8 [B, 3, size, size] (see the module docstring)."""

    def __init__(self, index: ContentIndex, batch: int, size: int, seed: int) -> None:
        self.entries, self.batch, self.size, self.seed = index.train, batch, size, seed
        self._perm: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:  # effectively endless; the sampler decides
        return 1 << 62

    def _perm_of(self, cycle: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != cycle:
            rng = np.random.default_rng(_seed("content-perm", self.seed, cycle))
            self._perm = (cycle, rng.permutation(len(self.entries)))
        return self._perm[1]

    def indices(self, k: int) -> list[int]:
        n = len(self.entries)
        out = []
        for pos in range(k * self.batch, (k + 1) * self.batch):
            cycle, offset = divmod(pos, n)
            out.append(int(self._perm_of(cycle)[offset]))
        return out

    def __getitem__(self, k: int) -> torch.Tensor:
        crops = []
        for i, idx in enumerate(self.indices(k)):
            img = fit_short_side(read_image(self.entries[idx]), self.size)
            rng = np.random.default_rng(_seed("content-crop", self.seed, k, i))
            h, w = img.shape[:2]
            y, x = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
            crop = img[y : y + self.size, x : x + self.size]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops.append(np.ascontiguousarray(crop))
        return to_tensor(crops)


class _From(torch.utils.data.Sampler):
    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.count(self.start)


class Batches:
    """Endless batches from step `start` on, decoded by `workers` processes (0: in this one)."""

    def __init__(self, data: ContentBatches, start: int, workers: int) -> None:
        self.loader = torch.utils.data.DataLoader(
            data, batch_size=None, sampler=_From(start), num_workers=workers,
            prefetch_factor=4 if workers > 0 else None, persistent_workers=False,
            multiprocessing_context="forkserver" if workers > 0 else None,
        )  # fmt: skip
        self.it: Any = iter(self.loader)

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> torch.Tensor:
        return next(self.it)

    def close(self) -> None:
        shutdown = getattr(self.it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
