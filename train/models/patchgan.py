"""The pix2pix discriminator: a conditional PatchGAN on (condition channels, colour image).

Each output logit judges one patch of the input; `n_layers` stride-2 blocks set the receptive field
(`receptive_field`): 1 -> 16 px, 2 -> 34 px, 3 -> 70 px (the classic "70x70 PatchGAN"), 4 -> 142 px.
A 70 px field covers most of a 96 px face, which makes the discriminator judge whole faces rather
than texture; `default_layers` therefore picks 34 px patches up to 128 px images and the classic
70 px from 256 px on.

Normalisation is GroupNorm (never on the first layer), for the same reason as in the U-Net: no
batch statistics, so the discriminator behaves the same at any batch size. With `tag_dim > 0`
(`--tags-mode embed`) the discriminator has its own learned tag projection, broadcast over the
image and concatenated to its input.
"""

from __future__ import annotations

import torch
from torch import nn

from train.models.unet import TagEmbedding, group_norm, init_weights


def default_layers(size: int) -> int:
    """Stride-2 blocks for a `size` px image: 34 px patches up to 128 px, the classic 70 px above."""
    return 2 if size <= 128 else 3


def receptive_field(n_layers: int) -> int:
    """Receptive field (px) of one output logit: 4x4 kernels, `n_layers` stride 2, then two stride 1."""
    strides = [2] * n_layers + [1, 1]
    rf = 1
    for s in reversed(strides):
        rf = (rf - 1) * s + 4
    return rf


class PatchDiscriminator(nn.Module):
    """C64-C128-... PatchGAN: logits [B, 1, h, w], one per patch."""

    def __init__(
        self, in_channels: int, n_layers: int = 3, ndf: int = 64, tag_dim: int = 0, embed_dim: int = 16
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.embed = TagEmbedding(tag_dim, embed_dim) if tag_dim > 0 else None
        cin = in_channels + (embed_dim if tag_dim > 0 else 0)
        layers: list[nn.Module] = [nn.Conv2d(cin, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]  # no norm here
        width = ndf
        for i in range(1, n_layers + 1):
            prev, width = width, ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(prev, width, 4, stride, 1, bias=False), group_norm(width), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))  # one logit per patch
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(
        self, cond: torch.Tensor, image: torch.Tensor, tags: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = torch.cat([cond, image], dim=1)
        if self.embed is not None:
            if tags is None:
                raise ValueError("this discriminator was built with a tag embedding: pass `tags`")
            x = torch.cat([x, self.embed(tags, x.shape[2], x.shape[3]).to(x.dtype)], dim=1)
        return self.net(x)
