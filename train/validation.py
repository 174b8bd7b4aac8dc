"""Held-out validation for pix2pix: the split by post, the metrics and the fixed preview grid.

Split: a post is held out when a hash of (seed, post_id) falls below `fraction`, so every crop of
one post sits on the same side, the split does not depend on shard order, and a post keeps its side
when the dataset grows. At least one post is held out (and one kept) whenever that is possible.

Metrics, on images in [0, 1] against the ground truth, with the generator in eval mode (no dropout):
- `l1`: mean absolute error; `psnr`: 10 log10(1 / MSE) per image, averaged;
- `ssim`: Wang et al. 2004 (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03), per channel, averaged;
- `hint_error`: with simulated hints on every sample, the mean Euclidean RGB distance (0-255 scale)
  between the output and the hinted colour, over hinted pixels only.
L1/PSNR/SSIM are measured without hints (the plain line art + tags task); `hint_error` needs hints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from train.conditioning import Prep, prepare

METRICS = {"l1": "min", "psnr": "max", "ssim": "max", "hint_error": "min"}
VAL_SEED = 12345  # the fixed generator for validation hints


def _unit_hash(seed: int, post_id: int) -> float:
    d = hashlib.sha256(f"pix2pix-val-{seed}-{post_id}".encode()).digest()
    return int.from_bytes(d[:8], "little") / 2**64


def split_by_post(post_ids: Sequence[int], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train indices, validation indices) of samples whose posts are `post_ids`."""
    posts = sorted(set(post_ids))
    if fraction <= 0 or len(posts) < 2:
        return list(range(len(post_ids))), []
    score = {p: _unit_hash(seed, p) for p in posts}
    held = {p for p in posts if score[p] < fraction}
    if not held:
        held = {min(posts, key=score.__getitem__)}
    if len(held) == len(posts):
        held.discard(max(posts, key=score.__getitem__))
    train = [i for i, p in enumerate(post_ids) if p not in held]
    val = [i for i, p in enumerate(post_ids) if p in held]
    return train, val


def post_id_of(meta: dict[str, Any], key: str) -> int:
    """A sample's post id from its json (falls back to a hash of the key when there is none)."""
    pid = meta.get("post_id") if isinstance(meta, dict) else None
    if isinstance(pid, int):
        return pid
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "little")


# -- metrics --------------------------------------------------------------------------------------
def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of [B, C, H, W] images in [0, 1]."""
    mse = (x - y).pow(2).flatten(1).mean(1).clamp(min=1e-10)
    return 10 * torch.log10(1.0 / mse)


def _gauss(size: int = 11, sigma: float = 1.5, device: Any = "cpu") -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image mean SSIM of [B, C, H, W] images in [0, 1] (valid-window, per channel)."""
    c = x.shape[1]
    g = _gauss(device=x.device)
    win = (g[:, None] @ g[None, :]).expand(c, 1, -1, -1).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def hint_error_sum(out: torch.Tensor, hint_rgb: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(sum of RGB distances on the 0-255 scale over hinted pixels, number of hinted pixels)."""
    d = ((out - hint_rgb) * 127.5).pow(2).sum(1, keepdim=True).sqrt()
    return float((d * mask).sum()), float(mask.sum())


# -- evaluation -----------------------------------------------------------------------------------
@torch.no_grad()
def generate(g: Any, cond: torch.Tensor, tags: torch.Tensor | None, autocast: Any) -> torch.Tensor:
    with autocast:
        return g(cond, tags).float()


@torch.no_grad()
def evaluate(
    g: Any,
    data: dict[str, torch.Tensor],
    prep: Prep,
    device: str,
    autocast_fn: Any,
    batch_size: int = 32,
) -> dict[str, float]:
    """Metrics of generator `g` on the validation tensors (`color.png`, `line.png`, `tags.npy`)."""
    was_training = g.training
    g.eval()
    n = data["color.png"].shape[0]
    gen = torch.Generator(device=device).manual_seed(VAL_SEED)
    l1 = ps = ss = herr = hcount = 0.0
    for i in range(0, n, batch_size):
        color = data["color.png"][i : i + batch_size].to(device)
        line = data["line.png"][i : i + batch_size].to(device)
        tags = data["tags.npy"][i : i + batch_size].to(device) if "tags.npy" in data else None
        cond, target, _, _ = prepare(color, line, tags, prep, gen, augment=False, hints="off")
        out = generate(g, cond, tags, autocast_fn())
        o01, t01 = (out.clamp(-1, 1) + 1) / 2, (target + 1) / 2
        l1 += float((o01 - t01).abs().flatten(1).mean(1).sum())
        ps += float(psnr(o01, t01).sum())
        ss += float(ssim(o01, t01).sum())
        if prep.hints:
            cond, target, hrgb, hmask = prepare(color, line, tags, prep, gen, augment=False, hints="all")
            out = generate(g, cond, tags, autocast_fn())
            e, c = hint_error_sum(out.clamp(-1, 1), hrgb, hmask)
            herr, hcount = herr + e, hcount + c
    g.train(was_training)
    res = {"l1": l1 / n, "psnr": ps / n, "ssim": ss / n}
    if prep.hints and hcount > 0:
        res["hint_error"] = herr / hcount
    return res


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if METRICS[metric] == "min" else value > best


# -- preview grid -------------------------------------------------------------------------------
def grid_rows(
    line: torch.Tensor,
    hint_rgb: torch.Tensor,
    hint_mask: torch.Tensor,
    output: torch.Tensor,
    target: torch.Tensor,
) -> torch.Tensor:
    """Images for a 4-column grid, one sample per row: line | hints | output | target ([-1, 1] floats).

    The hints column shows the hint colours painted over a faded copy of the line art, so it reads
    the same whatever other channels (tags) the condition holds.
    """
    line3 = line.expand(-1, 3, -1, -1)
    faded = line3 * 0.35 + 0.65
    hints = torch.where(hint_mask > 0, hint_rgb, faded)
    rows = torch.stack([line3, hints, output.clamp(-1, 1), target], dim=1)  # [B, 4, 3, H, W]
    return rows.flatten(0, 1)


@torch.no_grad()
def save_preview(
    g: Any,
    data: dict[str, torch.Tensor],
    prep: Prep,
    device: str,
    autocast_fn: Any,
    path: str | Path,
) -> Path:
    """The fixed validation grid (same samples and hints every time), written atomically."""
    from train.grid import save_grid

    was_training = g.training
    g.eval()
    gen = torch.Generator(device=device).manual_seed(VAL_SEED)
    color, line = data["color.png"].to(device), data["line.png"].to(device)
    tags = data["tags.npy"].to(device) if "tags.npy" in data else None
    cond, target, hrgb, hmask = prepare(color, line, tags, prep, gen, augment=False, hints="train")
    out = generate(g, cond, tags, autocast_fn())
    g.train(was_training)
    return save_grid(grid_rows(cond[:, :1], hrgb, hmask, out, target), path, nrow=4)
