"""The generator's input: `[line (1) | hint RGB (3) | hint mask (1) | tag channels]`, and the paired augmentation.

Value ranges: line art and hint colours in [-1, 1] (white = 1), the hint mask in {0, 1}, tags 0/1.

Tag modes (`--tags-mode`):
- `embed` (the default): no extra plane; the generator and the discriminator each learn a
  projection of the tag vector that is broadcast over the image (`train.models.unet.TagEmbedding`),
  so every pixel sees every tag. In the red_hair vs blue_hair test (32 px, 150 steps) it steers the
  hair colour by more than 40 levels per channel (tests/test_tag_modes.py).
- `none`: no tag channel (5 input channels).
- `plane`: the seed's layout, the published "tags as an extra plane" variant: the multi-hot vector of length V is laid
  into one extra HxW channel row-major, tag i at pixel (i // W, i % W), the remaining H*W - V pixels
  zero. It needs V <= H*W (9216 at 96 px, 1024 at 32 px); a larger vocabulary is refused with a
  message suggesting `embed` or a smaller `prep tags --top`, never silently truncated. Each tag is
  one pixel that only a few convolutions see, so it learns tags slowly: identical hair colour in
  the same 150-step test (it catches up only after about 600 steps). Kept for comparison.

The hint channels are always there (all zero under `--no-hints`), so the layout of the input does
not depend on the hint option.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.errors import UserError
from train.hints import no_hints, simulate_hints

TAG_MODES = ("none", "plane", "embed")
BASE_CHANNELS = 5  # line, hint RGB, hint mask


def condition_channels(tags_mode: str) -> int:
    """Number of condition channels fed to both networks (the `embed` projection comes on top)."""
    if tags_mode not in TAG_MODES:
        raise UserError(f"--tags-mode must be one of {', '.join(TAG_MODES)}, not {tags_mode!r}")
    return BASE_CHANNELS + (1 if tags_mode == "plane" else 0)


def check_plane_fits(vocab_size: int, size: int) -> None:
    if vocab_size > size * size:
        raise UserError(
            f"--tags-mode plane lays the {vocab_size} tags into one {size}x{size} plane ({size * size} "
            "pixels), which is too small; use --tags-mode embed or a smaller vocabulary (`prep tags --top`)"
        )


def tag_plane(tags: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Multi-hot [B, V] -> [B, 1, H, W]: values row-major in the first V pixels, zero elsewhere."""
    b, v = tags.shape
    if v > height * width:
        raise ValueError(f"{v} tags do not fit a {height}x{width} plane")
    plane = torch.zeros((b, height * width), dtype=torch.float32, device=tags.device)
    plane[:, :v] = tags.float()
    return plane.view(b, 1, height, width)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


def build_condition(
    line: torch.Tensor,
    hint_rgb: torch.Tensor,
    hint_mask: torch.Tensor,
    tags: torch.Tensor | None,
    tags_mode: str,
) -> torch.Tensor:
    """Concatenate the condition channels (all float, same H and W)."""
    parts = [line, hint_rgb, hint_mask]
    if tags_mode == "plane":
        if tags is None:
            raise ValueError("--tags-mode plane needs tag vectors")
        parts.append(tag_plane(tags, line.shape[2], line.shape[3]))
    return torch.cat(parts, dim=1)


@dataclass(frozen=True)
class Prep:
    """How batches become (condition, target) for one run."""

    size: int
    tags_mode: str = "none"
    hints: bool = True
    hint_none: float = 0.5
    max_patches: int = 6
    jitter: bool = True


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float [B, C, H, W] -> [B, C, size, size]: area averaging when shrinking, bilinear otherwise."""
    if x.shape[2] == size and x.shape[3] == size:
        return x
    mode = "area" if x.shape[2] >= size else "bilinear"
    return F.interpolate(
        x, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False})
    )


def crop_flip(
    color: torch.Tensor, line: torch.Tensor, generator: torch.Generator, pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random translation (pad by `pad`, crop back) and horizontal flip for both images.

    The line art is padded with white and the colour image by replicating its border, so the
    padding never adds lines. One gather per image, whatever the batch size.
    """
    b, _, h, w = color.shape
    dev = color.device
    color_p = F.pad(color, (pad, pad, pad, pad), mode="replicate")
    line_p = F.pad(line, (pad, pad, pad, pad), value=1.0)
    oy = (torch.rand(b, generator=generator, device=dev) * (2 * pad + 1)).long()
    ox = (torch.rand(b, generator=generator, device=dev) * (2 * pad + 1)).long()
    flip = torch.rand(b, generator=generator, device=dev) < 0.5
    cols = torch.arange(w, device=dev)[None, :].expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + ox[:, None]
    rows = torch.arange(h, device=dev)[None, :] + oy[:, None]
    bi = torch.arange(b, device=dev)[:, None, None]

    def take(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()

    return take(color_p), take(line_p)


HINTS = ("train", "all", "off")


def prepare(
    color_u8: torch.Tensor,
    line_u8: torch.Tensor,
    tags: torch.Tensor | None,
    prep: Prep,
    generator: torch.Generator,
    augment: bool,
    hints: str = "train",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 batch -> (condition, target, hint_rgb, hint_mask), all float on the batch's device.

    `augment`: the same random crop/flip for the pair. `hints`: "train" simulates hints with the
    run's share of hint-free samples, "all" gives every sample hints, "off" none; a run trained
    with `--no-hints` always gets none. All randomness comes from `generator`.
    """
    color = resize_square(to_unit(color_u8), prep.size)
    line = resize_square(to_unit(line_u8), prep.size)
    if augment and prep.jitter:
        color, line = crop_flip(color, line, generator, pad=max(1, prep.size // 16))
    if prep.hints and hints != "off":
        p_none = prep.hint_none if hints == "train" else 0.0
        hint_rgb, hint_mask = simulate_hints(color, generator, p_none, prep.max_patches)
    else:
        hint_rgb, hint_mask = no_hints(color)
    cond = build_condition(line, hint_rgb, hint_mask, tags, prep.tags_mode)
    return cond, color, hint_rgb, hint_mask
