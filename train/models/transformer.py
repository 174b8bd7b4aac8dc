"""The feed-forward style network (Johnson et al. 2016), fully convolutional.

    x [B, 3, H, W] in [0, 1]  ->  conv 9x9 -> conv 3x3 /2 -> conv 3x3 /2 -> residual blocks
                              ->  resize x2 + conv 3x3 -> resize x2 + conv 3x3 -> conv 9x9  ->  [0, 1]

Choices and why:
- Upsampling is resizing followed by a convolution, never a transposed convolution: transposed
  convolutions with stride 2 leave checkerboard artefacts (Odena et al.).
- Anti-aliased resampling (`antialias`, the default): each /2 stage is its conv layer at full
  resolution followed by a [1, 2, 1]^2 blur and every second pixel (`BlurPool`, Zhang 2019), and
  the x2 resizes are bilinear. Johnson et al.'s strided convolutions and nearest-neighbour
  resizing make the network's texture depend on where the image sits on the 4 px grid, so a video
  panning by 1 or 2 px a frame gets a new texture every frame: measured with a trained network,
  warp error 13.7 and 22.4 for 1 and 2 px pans against 11.4 for a 4 px pan, where the anti-aliased
  one gives 9.4, 13.3 and 13.0 (`bench/bench_fast_style.py shifts`, docs/benchmarks.md). The
  price: the two /2 convolutions run at the resolution above their output.
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


class BlurPool(nn.Module):
    """Anti-aliased /2 subsampling (Zhang 2019): a [1, 2, 1] x [1, 2, 1] / 16 blur per channel
    (reflection padded), then every second pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        kernel = (k[:, None] * k[None, :] / 16).expand(channels, 1, 3, 3).clone()
        self.register_buffer("kernel", kernel, persistent=False)  # a constant, not a weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x.dtype), stride=2, groups=x.shape[1]
        )


def down_layer(cin: int, cout: int, stats: StatsMode, antialias: bool) -> nn.Module:
    """A /2 conv layer: strided (Johnson et al.), or anti-aliased: the conv layer at full
    resolution, then `BlurPool`, so that a small shift of the input shifts the features instead of
    changing them (the flicker of a panning video). (The strided one keeps the original layout
    of the weights, so old snapshots load.)"""
    if antialias:
        return nn.Sequential(ConvLayer(cin, cout, 3, 1, stats), BlurPool(cout))
    return ConvLayer(cin, cout, 3, 2, stats)


class UpLayer(nn.Module):
    """x2 resize (nearest-neighbour, or bilinear when anti-aliased), then a conv layer (no
    checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int, stats: StatsMode, antialias: bool = False) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3, 1, stats)
        self.mode = "bilinear" if antialias else "nearest"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bilinear":
            return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network; `width` is the first layer's channels (32);
    `antialias` replaces its strided convolutions by `BlurPool`ed ones and its nearest-neighbour
    upsampling by bilinear (snapshots without the key are the original network)."""

    def __init__(self, width: int = 32, blocks: int = 5, antialias: bool = True) -> None:
        super().__init__()
        if width < 1 or blocks < 0:
            raise ValueError(f"width must be >= 1 and blocks >= 0, not {width} and {blocks}")
        self.width, self.blocks, self.antialias = width, blocks, antialias
        self.stats = StatsMode()
        s, w, aa = self.stats, width, antialias
        self.down = nn.Sequential(
            ConvLayer(3, w, 9, 1, s), down_layer(w, 2 * w, s, aa), down_layer(2 * w, 4 * w, s, aa)
        )
        self.res = nn.Sequential(*[ResidualBlock(4 * w, s) for _ in range(blocks)])
        self.up = nn.Sequential(UpLayer(4 * w, 2 * w, s, aa), UpLayer(2 * w, w, s, aa))
        self.out = ConvLayer(w, 3, 9, 1, s, norm=False, relu=False)
        self.norms = [m for m in self.modules() if isinstance(m, InstanceNorm)]
        for i, m in enumerate(self.norms):
            m.index = i

    def config(self) -> dict[str, Any]:
        """What `from_config` needs to rebuild this network."""
        return {"width": self.width, "blocks": self.blocks, "antialias": self.antialias}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TransformerNet:
        return cls(int(config["width"]), int(config["blocks"]), bool(config.get("antialias", False)))

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
