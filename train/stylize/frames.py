"""Running the style network on uint8 frames: tensors in and out, tiles, colour preservation.

- `Stylizer(net, device, precision, tile, overlap)`: `__call__(frames)` takes a list of HxWx3
  uint8 BGR arrays (OpenCV's order) of one size and returns the stylised frames, same size.
  Conversion happens on the device: uint8 goes over PCIe, not float.
- Frames with a side over `tile` px are cut into tiles of at most `tile` px overlapping by
  `overlap` px. The network's instance norms would give each tile its own colours, so a first
  pass over the tiles records every norm layer's statistics, their pixel-weighted mean is frozen
  and the second pass runs every tile with the same statistics: the tiles then compute the same
  function. In each overlap the outer quarter of each tile (its border shows there through the
  receptive field) is dropped and the middle half blended with linear ramps, so no seam shows.
- `preserve_luminance(out, src)`: Gatys et al.'s colour preservation for a feed-forward network:
  the output's luminance (Y of YCrCb) with the input's colour channels (Cr, Cb).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

PRESERVE_COLOR = ("none", "luminance")


def tile_starts(length: int, tile: int, overlap: int, align: int = 4) -> list[int]:
    """Start offsets of tiles of at most `tile` px covering [0, length), neighbours sharing at least
    `overlap` px. Starts are multiples of `align` (the network's stride): a tile that started
    elsewhere would sample the stride-2 grids at another phase and compute another function."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap - align))
    step = (length - tile) / (n - 1)
    starts = [min(align * math.ceil(i * step / align), length - 1) for i in range(n)]
    return sorted(set(starts))


def _ramp(length: int, start: int, end: int, total: int, overlap: int) -> np.ndarray:
    """1-D blending weights of a tile [start, end) of an axis of `total` px.

    On a side that meets another tile, the outer quarter of the overlap (where the tile's border,
    reflection-padded, still shows through the receptive field) gets almost no weight, and the
    weight rises linearly to 1 over the middle half; elsewhere it is 1. Never 0, so every pixel
    has weight.
    """
    w = np.ones(length, np.float32)
    if overlap == 0:
        return w
    margin = overlap // 4
    d = np.arange(length, dtype=np.float32)
    ramp = np.clip((d - margin + 0.5) / max(overlap - 2 * margin, 1), 1e-4, 1.0)
    if start > 0:
        w = np.minimum(w, ramp)
    if end < total:
        w = np.minimum(w, ramp[::-1])
    return w


class Stylizer:
    """A style network applied to batches of uint8 BGR frames (see the module docstring)."""

    def __init__(
        self, net: Any, device: str, precision: str = "fp32", tile: int = 2048, overlap: int = 64
    ) -> None:
        if overlap < 0 or overlap >= tile:
            raise ValueError(f"tile overlap {overlap} must be at least 0 and smaller than the tile {tile}")
        self.net, self.device, self.precision = net, device, precision
        self.tile, self.overlap = tile, overlap
        self.tiles_last = 1

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        from train.engine.device import autocast

        with autocast(self.device, self.precision):
            return self.net(x).float()

    @torch.inference_mode()
    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        batch = torch.from_numpy(np.stack(frames)).to(self.device, non_blocking=True)
        # BGR HWC uint8 -> RGB CHW float in [0, 1], on the device
        x = batch.permute(0, 3, 1, 2).flip(1).float().div_(255.0)
        h, w = x.shape[-2:]
        if h <= self.tile and w <= self.tile:
            y = self._forward(x)
            self.tiles_last = 1
        else:
            y = torch.cat([self._tiled(x[i : i + 1]) for i in range(x.shape[0])])
        out = y.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).flip(1).permute(0, 2, 3, 1)
        return list(out.contiguous().cpu().numpy())

    def _tiled(self, x: torch.Tensor) -> torch.Tensor:
        """One image [1, 3, H, W] through the network tile by tile (two passes, shared statistics)."""
        h, w = x.shape[-2:]
        t, ov = self.tile, self.overlap
        boxes = [(y0, x0) for y0 in tile_starts(h, t, ov) for x0 in tile_starts(w, t, ov)]
        self.tiles_last = len(boxes)
        self.net.start_recording()
        try:
            for y0, x0 in boxes:
                self._forward(x[..., y0 : y0 + t, x0 : x0 + t])
            self.net.freeze_recorded()
            acc = torch.zeros_like(x)
            wsum = torch.zeros((1, 1, h, w), device=x.device)
            for y0, x0 in boxes:
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                out = self._forward(x[..., y0:y1, x0:x1])
                wy = _ramp(y1 - y0, y0, y1, h, ov)
                wx = _ramp(x1 - x0, x0, x1, w, ov)
                weight = torch.from_numpy(np.outer(wy, wx)).to(x.device)[None, None]
                acc[..., y0:y1, x0:x1] += out * weight
                wsum[..., y0:y1, x0:x1] += weight
        finally:
            self.net.own_stats()
        return acc / wsum


def preserve_luminance(out: np.ndarray, src: np.ndarray) -> np.ndarray:
    """The stylised frame's luminance with the source frame's colour (both HxWx3 uint8 BGR)."""
    o = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb)
    s = cv2.cvtColor(src, cv2.COLOR_BGR2YCrCb)
    s[..., 0] = o[..., 0]
    return cv2.cvtColor(s, cv2.COLOR_YCrCb2BGR)
