"""`train sample --tags "long_hair=+1.5,smile=-0.5" [--directions PATH]`: latents pushed along tag directions."""

from __future__ import annotations

from pathlib import Path

import torch

from train.directions import latent, store


def open_directions(ckpt: str | Path, path: str | Path | None, nz: int) -> store.Directions:
    """--directions, or `directions.json` in the checkpoint's run directory."""
    return store.load(path if path is not None else store.default_path(ckpt), nz)


def push(z: torch.Tensor, ckpt: str | Path, spec: str, path: str | Path | None = None) -> torch.Tensor:
    """Every row of z [N, nz] moved by the --tags spec, through `latent.compose` (capped to the prior)."""
    d = open_directions(ckpt, path, z.shape[1])
    s = d.strengths(store.parse_spec(spec))
    return torch.from_numpy(latent.compose(z.numpy(), d.vectors, s))
