"""Image grids (PNG) from batches of images, written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch

from core.atomic import atomic_write_bytes


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] (generator output) or uint8 -> uint8 [N, C, H, W] on the CPU."""
    if images.dtype == torch.uint8:
        return images.cpu()
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, fill: int = 0) -> torch.Tensor:
    """Tile [N, C, H, W] into one uint8 [H', W', C] image, `nrow` images per row (default: square)."""
    x = to_uint8(images)
    n, c, h, w = x.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), fill, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y0 : y0 + h, x0 : x0 + w] = x[i]
    return grid.permute(1, 2, 0).contiguous()


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, pad: int = 2) -> Path:
    """Write a PNG grid atomically; returns the path."""
    from PIL import Image

    arr = make_grid(images, nrow, pad).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr if arr.shape[2] == 3 else arr[:, :, 0]).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
