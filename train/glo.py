"""A stand-in generator for CPU tests and benchmarks: the project's DCGAN `Generator` fitted to
face shards by generative latent optimisation (Bojanowski et al. 2018: each face gets a fixed
random z, the generator learns to draw it with an L1 loss and Adam), saved as a `train dcgan`
snapshot that every command reading one accepts.

It draws the faces' hair colours from z within a minute on a CPU, where adversarial training
(`train dcgan`) needs far longer; it is not a way to train a generator for use.
"""

from __future__ import annotations

from pathlib import Path

import torch


def fit_glo(
    shards: Path, out: Path, nz: int = 16, ngf: int = 16, steps: int = 300, batch: int = 64,
    lr: float = 3e-3, snapshot: str = "network-snapshot-000000.000.pt",
) -> Path:  # fmt: skip
    """Fit, save `out/<snapshot>` (G and G_ema the same weights) and return `out`."""
    from train.loader import load_into_memory, open_shards
    from train.models.dcgan import Generator, init_weights

    x = load_into_memory(open_shards(shards), fields=("png",), progress=False)["png"].float() / 127.5 - 1
    size = int(x.shape[-1])
    torch.manual_seed(0)
    g = Generator(size, nz, ngf)
    g.apply(init_weights)
    z = torch.randn(len(x), nz)
    opt = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,))
        loss = (g(z[idx]) - x[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out.mkdir(parents=True, exist_ok=True)
    sd = g.eval().state_dict()
    state = {"kind": "dcgan", "format": 1, "options": {"size": size, "nz": nz, "ngf": ngf}, "G": sd, "G_ema": sd,
             "fitted_by": "train.glo (generative latent optimisation)"}  # fmt: skip
    torch.save(state, out / snapshot)
    return out
