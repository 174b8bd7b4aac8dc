"""Colour hints: what a user would scribble on the line art, simulated for training, read for inference.

A hint is a pair (RGB [B, 3, H, W] in [-1, 1], zero where there is no hint; mask [B, 1, H, W] in {0, 1}).

Training (`simulate_hints`): a share `p_none` of the samples gets no hint at all (so the model
also colours bare line art); the others get 1..`max_patches` small square patches, each filled with
the mean colour of the target under it ("the target's local colour"), the way a user drops a dot
of the colour they want. Patch sides scale with the image: `size/48` to `size/16` px (2-6 px at 96).
Everything is drawn from the given `torch.Generator`, so a step's hints are a pure function of it.

Inference (`hints_from_image`): an RGBA image whose opaque pixels (alpha > 127) are hints, or an
RGB image whose non-white pixels (any channel < 250) are hints, of the drawing's size; it is
brought to the model's size by area averaging so that small dots survive the down-scaling.
"""

from __future__ import annotations

import torch


def patch_sides(size: int) -> tuple[int, int]:
    """(smallest, largest) side of a simulated hint patch for `size` px images."""
    lo = max(1, size // 48)
    return lo, max(lo + 1, size // 16)


def simulate_hints(
    target: torch.Tensor,
    generator: torch.Generator,
    p_none: float = 0.5,
    max_patches: int = 6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints drawn from `target` (float [B, 3, H, W] in [-1, 1]); returns (rgb, mask)."""
    b, _, h, w = target.shape
    dev = target.device
    lo, hi = patch_sides(min(h, w))

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=dev)

    has = rand(b) >= p_none
    count = (rand(b) * max_patches).long() + 1  # 1..max_patches
    active = has[:, None] & (torch.arange(max_patches, device=dev)[None, :] < count[:, None])  # [B, P]
    side = (lo + (rand(b, max_patches) * (hi - lo + 1)).long()).clamp(max=min(h, w))  # [B, P]
    y0 = (rand(b, max_patches) * (h - side + 1)).long()
    x0 = (rand(b, max_patches) * (w - side + 1)).long()
    ys = torch.arange(h, device=dev)[None, None, :]
    xs = torch.arange(w, device=dev)[None, None, :]
    in_y = (ys >= y0[..., None]) & (ys < (y0 + side)[..., None])  # [B, P, H]
    in_x = (xs >= x0[..., None]) & (xs < (x0 + side)[..., None])  # [B, P, W]
    patch = (in_y[..., :, None] & in_x[..., None, :] & active[..., None, None]).to(target.dtype)  # [B,P,H,W]
    area = (side * side).to(target.dtype)
    colour = torch.einsum("bchw,bphw->bpc", target, patch) / area[..., None]  # mean colour per patch

    rgb = torch.zeros_like(target)
    mask = torch.zeros((b, 1, h, w), dtype=target.dtype, device=dev)
    for p in range(max_patches):  # later patches paint over earlier ones
        m = patch[:, p : p + 1]
        rgb = torch.where(m > 0, colour[:, p, :, None, None].expand_as(rgb), rgb)
        mask = torch.maximum(mask, m)
    return rgb, mask


def no_hints(target_like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Empty hints shaped like a [B, C, H, W] batch."""
    b, _, h, w = target_like.shape
    z = torch.zeros((b, 3, h, w), dtype=target_like.dtype, device=target_like.device)
    return z, z[:, :1].clone()


def hints_from_image(img: object, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoded hints image (HxWx3 RGB or HxWx4 RGBA uint8 numpy array), already padded to a square,
    to (rgb [1, 3, size, size] in [-1, 1], mask [1, 1, size, size] in {0, 1})."""
    import numpy as np
    import torch.nn.functional as F

    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        m = (a[:, :, 3] > 127).astype(np.float32)
    else:
        m = (a[:, :, :3] < 250).any(axis=2).astype(np.float32)
    rgb = torch.from_numpy(a[:, :, :3].astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    mask = torch.from_numpy(m)[None, None]
    # Area-average the hinted colour and the mask separately, then divide: a pixel that covers some
    # hint becomes a hint of the average hinted colour, so small dots are not lost when shrinking.
    m_small = F.adaptive_avg_pool2d(mask, size) if mask.shape[-1] >= size else F.interpolate(mask, size=size)
    c_small = (
        F.adaptive_avg_pool2d(rgb * mask, size)
        if mask.shape[-1] >= size
        else F.interpolate(rgb * mask, size=size)
    )
    hit = m_small > 0
    colour = torch.where(hit, c_small / m_small.clamp(min=1e-6), torch.zeros_like(c_small))
    return colour.clamp(-1, 1), hit.float()
