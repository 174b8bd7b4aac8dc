"""The feed-forward style network (Johnson et al. 2016), fully convolutional.

    x [B, 3, H, W] in [0, 1]  ->  conv 9x9 -> conv 3x3 /2 -> conv 3x3 /2 -> residual blocks
                              ->  resize x2 + conv 3x3 -> resize x2 + conv 3x3 -> conv 9x9  ->  [0, 1]

Choices and why:
- Upsampling is nearest-neighbour resizing followed by a convolution, never a transposed
  convolution: transposed convolutions with stride 2 leave checkerboard artefacts (Odena et al.).
- Instance normalisation (Ulyanov et al.) with learnt scale and shift, as in the write-ups; each
  norm layer can also run on statistics frozen from another pass (`StatsMode`), which is how
  `train stylize` keeps the tiles of a large image consistent with each other.
- Reflection padding inside every convolution, so borders do not darken.
- Any size in, the same size out: the input is reflect-padded to a multiple of 4 (the two
  stride-2 stages; at least 16 px) and the output cropped back, so a 150x110 image comes back 150x110.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4
"""Total downsampling of the network; inputs are padded to a multiple of it."""
MIN_SIDE = 16
"""Smaller inputs are padded up to it (the 9x9 reflection pads need at least 5 px)."""


class StatsMode:
    """How the instance norms of a network get their statistics.

    `own` (the default): each image's own mean and variance, as in training.
    `record`: each layer's per-channel mean and E[x^2] summed (weighted by pixel count) into
    `sums`, so that several passes (tiles) can be averaged; normalising with `frozen` when set.
    `frozen`: the statistics in `frozen` (one (mean, var) per layer, each [B or 1, C]).

    """

    def __init__(self) -> None:
        self.mode = "own"
        self.sums: list[list[Any]] = []
        self.frozen: list[tuple[torch.Tensor, torch.Tensor]] = []


class InstanceNorm(nn.Module):
    """Instance normalisation with affine parameters that can record or use shared statistics."""

    def __init__(self, channels: int, stats: StatsMode, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.stats = stats
        self.index = -1  # position among the network's norm layers, set by the network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stats
        if s.mode == "record":
            xf = x.detach().float()
            n = xf.shape[2] * xf.shape[3]
            m, sq = xf.mean((2, 3)) * n, (xf * xf).mean((2, 3)) * n
            entry = s.sums[self.index]
            entry[0], entry[1], entry[2] = entry[0] + m, entry[1] + sq, entry[2] + n
        if s.frozen:
            mean, var = s.frozen[self.index]
            mean, var = mean[:, :, None, None].to(x.dtype), var[:, :, None, None].to(x.dtype)
            y = (x - mean) * torch.rsqrt(var + self.eps)
            return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


class ConvLayer(nn.Module):
    """Reflection pad + convolution (+ instance norm + ReLU)."""

    def __init__(
        self, cin: int, cout: int, k: int, stride: int, stats: StatsMode, norm: bool = True, relu: bool = True
    ) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(cin, cout, k, stride)
        self.norm = InstanceNorm(cout, stats) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    """Two 3x3 conv layers with a skip connection (no ReLU after the sum, as in Johnson et al.)."""

    def __init__(self, channels: int, stats: StatsMode) -> None:
        super().__init__()
        self.a = ConvLayer(channels, channels, 3, 1, stats)
        self.b = ConvLayer(channels, channels, 3, 1, stats, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


class UpLayer(nn.Module):
    """Nearest-neighbour x2 resize, then a conv layer (no checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int, stats: StatsMode) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3, 1, stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network; `width` is the first layer's channels (32)."""

    def __init__(self, width: int = 32, blocks: int = 5) -> None:
        super().__init__()
        if width < 1 or blocks < 0:
            raise ValueError(f"width must be >= 1 and blocks >= 0, not {width} and {blocks}")
        self.width, self.blocks = width, blocks
        self.stats = StatsMode()
        s, w = self.stats, width
        self.down = nn.Sequential(
            ConvLayer(3, w, 9, 1, s), ConvLayer(w, 2 * w, 3, 2, s), ConvLayer(2 * w, 4 * w, 3, 2, s)
        )
        self.res = nn.Sequential(*[ResidualBlock(4 * w, s) for _ in range(blocks)])
        self.up = nn.Sequential(UpLayer(4 * w, 2 * w, s), UpLayer(2 * w, w, s))
        self.out = ConvLayer(w, 3, 9, 1, s, norm=False, relu=False)
        self.norms = [m for m in self.modules() if isinstance(m, InstanceNorm)]
        for i, m in enumerate(self.norms):
            m.index = i

    def config(self) -> dict[str, int]:
        """What `from_config` needs to rebuild this network."""
        return {"width": self.width, "blocks": self.blocks}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TransformerNet:
        return cls(int(config["width"]), int(config["blocks"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, H, W] in [0, 1] -> stylised [B, 3, H, W] in [0, 1], for any H, W >= 1."""
        h, w = x.shape[-2:]
        ph, pw = max((-h) % STRIDE, MIN_SIDE - h), max((-w) % STRIDE, MIN_SIDE - w)
        if ph or pw:
            # reflection needs the pad to be smaller than the side; replicate covers tiny inputs
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = self.out(self.up(self.res(self.down(x))))
        # (tanh + 1) / 2 keeps outputs in [0, 1] with gradients everywhere, unlike a clamp
        y = (torch.tanh(y) + 1) * 0.5
        return y[..., :h, :w]

    # -- shared statistics (tiling) -----------------------------------------------------------------

    def start_recording(self) -> None:
        """Sum every norm layer's statistics over the following forward passes (normalising with
        the frozen statistics, if any, meanwhile)."""
        self.stats.mode = "record"
        self.stats.sums = [[0.0, 0.0, 0] for _ in self.norms]

    def freeze_recorded(self) -> None:
        """Use the pixel-weighted means of what was recorded from now on."""
        frozen = []
        for m, sq, n in self.stats.sums:
            if n == 0:
                raise RuntimeError("freeze_recorded() without a recorded pass")
            mean = m / n
            frozen.append((mean, (sq / n - mean * mean).clamp_min(0)))
        self.stats.frozen, self.stats.mode = frozen, "frozen"

    def own_stats(self) -> None:
        """Back to per-image statistics (the training behaviour)."""
        self.stats.mode, self.stats.sums, self.stats.frozen = "own", [], []
