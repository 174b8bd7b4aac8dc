"""The losses of `train fast-style`: content, style, total variation, and stability.

- content: mean squared difference of the VGG-19 features of the output and of the content image
  at `--content-layers` (summed over layers);
- style: mean squared difference of Gram matrices (F F^T / (C H W)) of the output and of the style
  image at `--style-layers` (summed over layers), as in pytorch/examples' fast_neural_style, whose
  weights (content 1e5, style 1e10) are the defaults;
- tv: mean absolute difference of neighbouring output pixels;
- temporal (Huang et al. 2017's idea, without any flow data): a synthetic motion M with a known
  flow (a random small affine warp: shift up to `max_shift` px, rotation up to 2 degrees, scale
  up to 3 %) plus noise of std `noise` gives a second frame x' = M(x) + n; the loss is the mean
  squared difference ||T(x') - M(T(x))||^2 over the pixels M maps from inside the image: output
  changes that the motion does not explain (flicker, swimming textures, noise sensitivity).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrices [B, C, C] of features [B, C, H, W], normalised by C H W."""
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def tv_loss(y: torch.Tensor) -> torch.Tensor:
    return (y[..., 1:, :] - y[..., :-1, :]).abs().mean() + (y[..., :, 1:] - y[..., :, :-1]).abs().mean()


def random_affine(n: int, size: int, max_shift: float, gen: torch.Generator) -> torch.Tensor:
    """n random small affine motions as affine_grid matrices [n, 2, 3] (output -> input coordinates)."""
    u = torch.rand(n, 4, generator=gen, device=gen.device) * 2 - 1
    angle = u[:, 0] * math.radians(2.0)
    scale = 1 + u[:, 1] * 0.03
    shift = u[:, 2:] * (2 * max_shift / size)  # normalised coordinates span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)


def warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def motion(
    x: torch.Tensor, max_shift: float, noise: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x' = M(x) + noise, the sampling grid of M, mask of pixels M takes from inside the image)."""
    n, _, h, w = x.shape
    theta = random_affine(n, max(h, w), max_shift, gen).to(x.device, x.dtype)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    mask = (warp(torch.ones_like(x[:, :1]), grid) > 0.999).to(x.dtype)
    eps = torch.randn(x.shape, generator=gen, device=gen.device).to(x.device, x.dtype) * noise
    return (warp(x, grid) + eps).clamp(0, 1), grid, mask


def temporal_loss(y2: torch.Tensor, y: torch.Tensor, grid: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between T(x') and M(T(x)) over the masked pixels."""
    d = (y2 - warp(y, grid)) ** 2 * mask
    return d.sum() / (mask.sum() * y.shape[1]).clamp_min(1)
