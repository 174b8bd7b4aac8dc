"""The tile grid of a tiled run, its blending windows, shifted tilings and soft per-tile style maps.

Along each axis of length L, n = ceil(L / (tile - overlap)) tiles meet at n - 1 cuts spaced L / n
apart; tile k spans from cut k - overlap/2 to cut k+1 + overlap/2, so neighbours share exactly
`overlap` pixels, where their windows ramp linearly (one down, the other up: they add up to 1).
A shifted tiling moves every cut by the same offset (within what keeps each tile at most `tile`
px), so that over the iterations no pixel stays on a tile border. Windows are separable
(wy[:, None] * wx[None, :]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_EDGE = 32  # the smallest an edge tile may become when the cuts shift


@dataclass(frozen=True)
class Span:
    a: int
    b: int
    ramp_in: int  # pixels of rising window at a (0 at the image edge)
    ramp_out: int  # pixels of falling window before b


@dataclass(frozen=True)
class Tile:
    y: Span
    x: Span

    @property
    def shape(self) -> tuple[int, int]:
        return self.y.b - self.y.a, self.x.b - self.x.a

    def crop(self, img: torch.Tensor) -> torch.Tensor:
        return img[..., self.y.a : self.y.b, self.x.a : self.x.b]


def count(length: int, tile: int, overlap: int) -> int:
    """How many tiles cover `length` px."""
    return 1 if length <= tile else math.ceil(length / (tile - overlap))


def max_shift(length: int, n: int, overlap: int, limit: int) -> int:
    """The largest common cut offset that keeps every tile within `limit` px and edge tiles usable."""
    if n == 1:
        return 0
    step = length / n
    return max(0, int(min(limit - step - overlap / 2, step + overlap / 2 - MIN_EDGE, step - overlap / 2 - 1)))


def spans(length: int, n: int, overlap: int, shift: int = 0) -> list[Span]:
    """The extents of `n` tiles along one axis."""
    if n <= 1:
        return [Span(0, length, 0, 0)]
    cuts = [round(k * length / n) + shift for k in range(1, n)]
    starts = [0] + [c - overlap // 2 for c in cuts]
    ends = [s + overlap for s in starts[1:]] + [length]
    return [
        Span(a, b, overlap if k > 0 else 0, overlap if k < n - 1 else 0)
        for k, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]


def window(span: Span, device: torch.device | str = "cpu") -> torch.Tensor:
    """The span's blending weights (length b - a): linear ramps over the overlaps, 1 elsewhere."""
    w = torch.ones(span.b - span.a, device=device)
    if span.ramp_in:
        w[: span.ramp_in] = (torch.arange(span.ramp_in, device=device) + 0.5) / span.ramp_in
    if span.ramp_out:
        w[w.numel() - span.ramp_out :] = torch.minimum(
            w[w.numel() - span.ramp_out :],
            1 - (torch.arange(span.ramp_out, device=device) + 0.5) / span.ramp_out,
        )
    return w


def grid(h: int, w: int, rows: int, cols: int, overlap: int, shift: tuple[int, int] = (0, 0)) -> list[Tile]:
    """The tiles of an h x w image cut into rows x cols, row by row."""
    return [
        Tile(sy, sx) for sy in spans(h, rows, overlap, shift[0]) for sx in spans(w, cols, overlap, shift[1])
    ]


def _axis_overlap_mass(region: Span, box: Span) -> float:
    """Sum over the box's pixels of the region's window (0 outside the region)."""
    a, b = max(region.a, box.a), min(region.b, box.b)
    if a >= b:
        return 0.0
    return float(window(region)[a - region.a : b - region.a].sum())


def region_mix(box: Tile, regions: list[Tile], weights: torch.Tensor) -> torch.Tensor:
    """Style weights (S,) of a tile: the average over its pixels of the soft style map, in which
    each region of the unshifted grid (`regions`, with `weights` R x S) is blended by its window."""
    masses = torch.tensor(
        [_axis_overlap_mass(r.y, box.y) * _axis_overlap_mass(r.x, box.x) for r in regions],
        dtype=weights.dtype,
    )
    mix = masses @ weights
    return mix / mix.sum().clamp_min(1e-12)


def soft_map(h: int, w: int, regions: list[Tile], weights: torch.Tensor) -> torch.Tensor:
    """S x h x w: each pixel's style weights (the regions' one-hot rows blended by their windows)."""
    out = torch.zeros(weights.shape[1], h, w)
    for r, wt in zip(regions, weights, strict=True):
        win = window(r.y)[:, None] * window(r.x)[None, :]
        out[:, r.y.a : r.y.b, r.x.a : r.x.b] += wt[:, None, None] * win
    return out / out.sum(0, keepdim=True).clamp_min(1e-12)
