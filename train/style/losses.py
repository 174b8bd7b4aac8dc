"""Gram matrices and the three losses, normalised as jcjohnson/neural-style does (so its default weights
5, 100 and 1e-3 mean the same here):

- content: mean squared difference of the content layers' activations;
- style: mean squared difference of Gram matrices G = F F^T / (C * H * W) of the style layers;
- total variation: 0.5 * sum of squared neighbour differences of the image in 0-255 levels.
"""

from __future__ import annotations

import torch


def gram(feat: torch.Tensor) -> torch.Tensor:
    """1 x C x H x W -> C x C, divided by C * H * W."""
    _, c, h, w = feat.shape
    f = feat.reshape(c, h * w)
    return (f @ f.t()) / (c * h * w)


class GramSum:
    """Accumulates F F^T and the position count over pieces of one image (tiled style targets)."""

    def __init__(self) -> None:
        self.ff: torch.Tensor | None = None
        self.n = 0

    def add(self, feat: torch.Tensor) -> None:
        _, c, h, w = feat.shape
        f = feat.reshape(c, h * w).double()
        ff = f @ f.t()
        self.ff = ff if self.ff is None else self.ff + ff
        self.n += h * w

    def gram(self) -> torch.Tensor:
        assert self.ff is not None and self.n > 0
        c = self.ff.shape[0]
        return (self.ff / (c * self.n)).float()


def content_loss(
    feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], weights: dict[str, float]
) -> torch.Tensor:
    return sum(w * torch.mean((feats[n] - targets[n]) ** 2) for n, w in weights.items())  # type: ignore[return-value]


def style_loss(
    feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], weights: dict[str, float]
) -> torch.Tensor:
    return sum(w * torch.mean((gram(feats[n]) - targets[n]) ** 2) for n, w in weights.items())  # type: ignore[return-value]


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """0.5 * sum of squared horizontal and vertical differences, in 0-255 levels."""
    x = img * 255.0
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())
