"""The pix2pix generator: a U-Net whose depth follows the image size.

Layout (Isola et al. 2017, "U-Net 256"): encoder C64-C128-C256-C512-C512-C512-C512-C512 (4x4
convolutions, stride 2, LeakyReLU 0.2), decoder mirroring it with skip connections, dropout 0.5 in
the three innermost decoder blocks at depth 8 (fewer at smaller depths, at least one), Tanh output.

Depth: one down-sampling per factor of two in `size`, at most 8, so 256 px gets the classic 8
(down to 1x1), 96 px gets 5 (down to 3x3: 96 = 3 * 2^5), 32 px gets 5 (1x1).

Normalisation: GroupNorm rather than the classic BatchNorm. BatchNorm's statistics depend on the
batch: the classic "BatchNorm at batch 1 in train mode" trick makes previews, validation and
inference disagree as soon as the batch size changes. InstanceNorm would fix that but normalises a
1x1 feature map to zero (the 256 px bottleneck); GroupNorm uses no batch statistics, behaves the same
in train and eval mode at any batch size, and still works at 1x1 because it pools over channels.

Tag embedding (`tag_dim > 0`, `--tags-mode embed`): a learned linear projection of the multi-hot
tag vector to `embed_dim` channels, broadcast over the image and concatenated to the input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_DEPTH = 8


def unet_depth(size: int) -> int:
    """Number of stride-2 down-samplings for a `size` px image: factors of two in `size`, at most 8."""
    if size < 8:
        raise ValueError(f"image size {size} is too small for a U-Net (at least 8 px)")
    depth = 0
    while size % 2 == 0 and depth < MAX_DEPTH:
        size //= 2
        depth += 1
    if depth < 3:
        raise ValueError(f"image size must be divisible by 8 for the U-Net (got {size * 2**depth})")
    return depth


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups of at least 4 channels each (never one channel per group)."""
    groups = math.gcd(channels, 32)
    while groups > 1 and channels // groups < 4:
        groups //= 2
    return nn.GroupNorm(groups, channels)


class TagEmbedding(nn.Module):
    """Multi-hot tags [B, V] -> [B, E, H, W]: a linear projection broadcast over the image."""

    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(vocab_size, embed_dim)

    def forward(self, tags: torch.Tensor, height: int, width: int) -> torch.Tensor:
        e = self.proj(tags.to(self.proj.weight.dtype))
        return e[:, :, None, None].expand(-1, -1, height, width)


class UNetGenerator(nn.Module):
    """U-Net from `in_channels` condition channels (plus tag embedding) to an RGB image in [-1, 1]."""

    def __init__(
        self,
        in_channels: int,
        size: int,
        ngf: int = 64,
        out_channels: int = 3,
        dropout: float = 0.5,
        tag_dim: int = 0,
        embed_dim: int = 16,
    ) -> None:
        super().__init__()
        self.size = size
        self.depth = unet_depth(size)
        self.embed = TagEmbedding(tag_dim, embed_dim) if tag_dim > 0 else None
        cin = in_channels + (embed_dim if tag_dim > 0 else 0)
        widths = [ngf * min(2**i, 8) for i in range(self.depth)]  # 64, 128, 256, 512, 512, ...

        self.down = nn.ModuleList()
        prev = cin
        for i, w in enumerate(widths):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2, inplace=False))
            layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=i == 0 or i == self.depth - 1))
            # No norm on the first layer (as in the classic design) nor on the innermost one.
            if 0 < i < self.depth - 1:
                layers.append(group_norm(w))
            self.down.append(nn.Sequential(*layers))
            prev = w

        # Decoder, innermost first: block j takes the previous output (+ skip) and doubles the size.
        self.up = nn.ModuleList()
        for j in range(self.depth):
            i = self.depth - 1 - j  # encoder level this block mirrors
            cin_up = widths[i] if j == 0 else widths[i] * 2
            last = i == 0
            cout = out_channels if last else widths[i - 1]
            layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(cin_up, cout, 4, 2, 1, bias=last)]
            if last:
                layers.append(nn.Tanh())
            else:
                layers.append(group_norm(cout))
                # Dropout on the innermost decoder blocks: three at the classic depth 8 (CD512 x3),
                # one fewer per missing level, but always at least one (it is pix2pix's noise).
                if dropout > 0 and j < max(1, min(3, self.depth - 5)):
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.apply(init_weights)

    def forward(self, x: torch.Tensor, tags: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if tags is None:
                raise ValueError("this generator was built with a tag embedding: pass `tags`")
            x = torch.cat([x, self.embed(tags, x.shape[2], x.shape[3]).to(x.dtype)], dim=1)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for j, block in enumerate(self.up):
            if j > 0:
                x = torch.cat([x, skips[self.depth - 1 - j]], dim=1)
            x = block(x)
        return x


def init_weights(m: nn.Module) -> None:
    """N(0, 0.02) for convolutions and linear layers, N(1, 0.02) for normalisation scales (pix2pix)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.GroupNorm):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
