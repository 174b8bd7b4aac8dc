"""Finding tag directions in z and measuring what they do (`train directions`).

1. Draw N prior samples z, generate faces, score them with the tagger (probabilities per tag).
2. Per tag, take the confident tails: the `tail` share of samples scored highest and lowest.
   - `mean` (the DCGAN write-up's): the mean z of the top tail minus the mean z of the bottom tail;
   - `linear` (InterFaceGAN's): the normal of a logistic-regression boundary between the two tails,
     scaled to the tails' separation along it, so that one unit means the same in both methods:
     moving by one unit moves a face from the typical low scorer towards the typical high scorer.
3. On fresh samples (another seed), `effect[i][j]` is the mean change of tag j's score when z moves
   by one unit along direction i (through `latent.compose`, so capped like every other use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from train.directions import latent

METHODS = ("mean", "linear")


@torch.inference_mode()
def generate_float(g: torch.nn.Module, z: torch.Tensor, device: str, batch: int = 32) -> torch.Tensor:
    """Generator outputs in [-1, 1], float32 on the CPU, for latents z [N, nz]."""
    return torch.cat(
        [g(z[i : i + batch].to(device)).float().clamp(-1, 1).cpu() for i in range(0, len(z), batch)]
    )


def score_latents(
    g: torch.nn.Module, tagger: Any, z: torch.Tensor, device: str, batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:  # fmt: skip
    """Tagger probabilities [N, T] of the faces generated from z [N, nz]."""
    out = []
    for i in range(0, len(z), batch):
        out.append(tagger.score(generate_float(g, z[i : i + batch], device, batch), batch))
        if progress is not None:
            progress(len(out[-1]))
    return torch.cat(out)


def tails(scores: torch.Tensor, tail: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices of the lowest-scored, of the highest-scored) `tail` share per column: [T, k] each."""
    k = max(1, round(tail * scores.shape[0]))
    order = torch.argsort(scores, dim=0, stable=True)  # [N, T] ascending
    return order[:k].T, order[-k:].T


def fit_mean(z: torch.Tensor, scores: torch.Tensor, tail: float) -> torch.Tensor:
    """[T, nz]: mean z of each tag's top tail minus that of its bottom tail."""
    lo, hi = tails(scores, tail)
    return z[hi].mean(1) - z[lo].mean(1)


def fit_linear(
    z: torch.Tensor, scores: torch.Tensor, tail: float, steps: int = 300, seed: int = 0
) -> torch.Tensor:
    """[T, nz]: per tag, the unit normal of a logistic boundary between its two tails (L2-regularised,
    full-batch Adam, all tags at once), times the tails' separation along that normal."""
    lo, hi = tails(scores, tail)
    x = torch.cat([z[hi], z[lo]], dim=1)  # [T, 2k, nz]
    y = torch.cat([torch.ones(hi.shape), torch.zeros(lo.shape)], dim=1)  # [T, 2k]
    mu = x.mean(1, keepdim=True)
    torch.manual_seed(seed)
    w = torch.zeros(x.shape[0], x.shape[2], requires_grad=True)
    b = torch.zeros(x.shape[0], 1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        logits = torch.einsum("tkd,td->tk", x - mu, w) + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + 1e-3 * (w**2).sum(1).mean()
        loss.backward()
        opt.step()
    unit = w.detach() / w.detach().norm(dim=1, keepdim=True).clamp_min(1e-12)
    sep = ((z[hi].mean(1) - z[lo].mean(1)) * unit).sum(1, keepdim=True)
    return unit * sep


def fit(method: str, z: torch.Tensor, scores: torch.Tensor, tail: float, seed: int = 0) -> torch.Tensor:
    if method == "mean":
        return fit_mean(z, scores, tail)
    if method == "linear":
        return fit_linear(z, scores, tail, seed=seed)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def measure(
    g: torch.nn.Module, tagger: Any, vectors: np.ndarray, z: np.ndarray, device: str, batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(effect [T, T], base scores [T]): effect[i, j] = mean over z of tag j's score at
    compose(z, +1 along i) minus at compose(z, nothing)."""
    n_dir = vectors.shape[0]
    none = np.zeros(n_dir, dtype=np.float32)
    base = score_latents(
        g, tagger, torch.from_numpy(latent.compose(z, vectors, none)), device, batch, progress
    )
    effect = np.zeros((n_dir, base.shape[1]), dtype=np.float64)
    for i in range(n_dir):
        s = none.copy()
        s[i] = 1.0
        moved = score_latents(
            g, tagger, torch.from_numpy(latent.compose(z, vectors, s)), device, batch, progress
        )
        effect[i] = (moved - base).mean(0).double().numpy()
    return effect, base.mean(0).double().numpy()


def cosines(vectors: np.ndarray) -> np.ndarray:
    """[T, T] cosine similarity between directions."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def selective(effect: np.ndarray) -> list[bool]:
    """Per direction: does it raise its own tag's score by more than it moves (|.|) any other tag?"""
    out = []
    for i in range(effect.shape[0]):
        others = np.abs(np.delete(effect[i], i)) if effect.shape[1] > 1 else np.zeros(1)
        out.append(bool(effect[i, i] > 0 and effect[i, i] > others.max()))
    return out
