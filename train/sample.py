"""Sampling from a trained DCGAN: grids and spherical interpolation strips between latent points."""

from __future__ import annotations

from pathlib import Path

import torch

from core.errors import UserError
from train.dcgan import generate, load_generator
from train.engine.device import resolve_device
from train.grid import save_grid


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b at fractions t ([T]) -> [N, T, D]."""
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((an * bn).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]
    t = t[None, :, None]
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a[:, None] + (torch.sin(t * omega) / so) * b[:, None]


def latents(n: int, nz: int, seed: int, interpolate: bool, frames: int) -> tuple[torch.Tensor, int]:
    """(z [M, nz], images per row): n random points, or n // frames strips of `frames` points."""
    gen = torch.Generator().manual_seed(seed)
    if not interpolate:
        return torch.randn(n, nz, generator=gen), 0
    rows = max(1, n // frames)
    a, b = torch.randn(rows, nz, generator=gen), torch.randn(rows, nz, generator=gen)
    return slerp(a, b, torch.linspace(0, 1, frames)).reshape(-1, nz), frames


def sample(
    ckpt: str | Path, n: int = 64, out: str | Path = "grid.png", seed: int = 0, interpolate: bool = False,
    frames: int = 8, ema: bool = True, device: str = "auto", tags: str | None = None,
    directions: str | None = None,
) -> Path:  # fmt: skip
    """Write the grid and return its path."""
    if n < 1:
        raise UserError(f"--n must be at least 1, not {n}")
    if interpolate and frames < 2:
        raise UserError(f"--frames must be at least 2, not {frames}")
    dev = resolve_device(device)
    g, opts = load_generator(ckpt, dev, ema=ema)
    z, per_row = latents(n, opts["nz"], seed, interpolate, frames)
    if tags:  # pushed along tag directions (train/directions/sampling.py)
        from train.directions.sampling import push

        z = push(z, ckpt, tags, directions)
    precision = "bf16" if dev == "cuda" else "fp32"
    return save_grid(generate(g, z, dev, precision), out, nrow=per_row or None)
