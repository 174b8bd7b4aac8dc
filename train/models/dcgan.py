"""DCGAN generator and discriminator for square images of 32, 64, 96 or 128 pixels.

The layout follows pytorch/examples dcgan/main.py and, at 96 px, the original anime-face DCGAN:
the generator projects z to a `start x start` map and doubles it `n_up` times; the discriminator
mirrors it and ends in one logit (no Sigmoid: the loss is BCEWithLogits or hinge).

    size  start  n_up   G channels (ngf=64)           D channels (ndf=64)
    32    4      3      256 128 64 3                  3 64 128 256 -> 1
    64    4      4      512 256 128 64 3              3 64 128 256 512 -> 1
    96    6      4      512 256 128 64 3              3 64 128 256 512 -> 1
    128   8      4      512 256 128 64 3              3 64 128 256 512 -> 1
"""

from __future__ import annotations

import torch
from torch import nn

SIZES = {32: (4, 3), 64: (4, 4), 96: (6, 4), 128: (8, 4)}
"""size -> (start resolution, number of 2x up/down-samplings)."""


def plan(size: int) -> tuple[int, int]:
    """(start, n_up) for an image size; ValueError for sizes the topology does not cover."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size}")
    return SIZES[size]


class Generator(nn.Module):
    def __init__(self, size: int = 96, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        start, n_up = plan(size)
        self.size, self.nz = size, nz
        ch = ngf * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            # z: nz x 1 x 1 -> ch x start x start
            nn.ConvTranspose2d(nz, ch, start, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            # ch x s x s -> ch/2 x 2s x 2s
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        # ngf x size/2 x size/2 -> nc x size x size, in [-1, 1]
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, size: int = 96, ndf: int = 64, nc: int = 3, act: str = "lrelu") -> None:
        super().__init__()
        start, n_down = plan(size)
        self.size = size

        def activation() -> nn.Module:
            return nn.ELU(inplace=True) if act == "elu" else nn.LeakyReLU(0.2, inplace=True)

        if act not in ("lrelu", "elu"):
            raise ValueError(f"act must be 'lrelu' or 'elu', not {act!r}")
        ch = ndf
        # nc x size x size -> ndf x size/2 x size/2 (no normalisation on the first layer)
        layers: list[nn.Module] = [nn.Conv2d(nc, ch, 4, 2, 1, bias=False), activation()]
        for _ in range(n_down - 1):
            # ch x s x s -> 2ch x s/2 x s/2
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), activation()]
            ch *= 2
        # ch x start x start -> 1 x 1 x 1: one logit per image
        layers += [nn.Conv2d(ch, 1, start, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def init_weights(m: nn.Module) -> None:
    """N(0, 0.02) for convolutions; N(1, 0.02) scale and zero shift for BatchNorm (DCGAN paper)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build(size: int, nz: int, ngf: int, ndf: int, act: str) -> tuple[Generator, Discriminator]:
    """Both networks, initialised (uses the global torch RNG: seed it first)."""
    g, d = Generator(size, nz, ngf), Discriminator(size, ndf, act=act)
    g.apply(init_weights)
    d.apply(init_weights)
    return g, d
