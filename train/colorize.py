"""Colourising any drawing with a trained pix2pix generator (`train colorize`).

Input handling, in order:
1. Decode with OpenCV (any size; 16-bit scaled to 8 bits; an alpha channel flattened onto white).
2. A colour image (its channels differ somewhere) becomes line art the way training line art was
   made: `cv2.Canny` on its grayscale with the thresholds stored in the checkpoint, inverted as then.
3. A grayscale drawing whose polarity differs from the training line art's is inverted: mean > 127
   means dark lines on a light background (what `prep canny` writes by default).
4. Padded to a square with the background colour (white for dark-on-light) and shrunk to the
   model's size so that thin lines survive (each line is first widened by the shrink factor, then
   area-averaged: a 1 px line of a 2000 px drawing is still a line at 96 px), and coloured.
5. Back at the drawing's own size (a drawing larger than the model): colour is low-frequency, the
   lines are not. The model's own (blurry, low-resolution) lines are painted out of its colour
   (inpainting from the surrounding colour), the colour is upsampled (bicubic) to the drawing's
   size, and the drawing's full-resolution lines are laid over it with a multiply blend, as a
   line layer over a colour layer: a black line pixel stays black, a white pixel takes the colour.
   The output has the input's size and its lines exactly as crisp and as dark as they were.
   A drawing at or below the model's size gets the model's output resized to its size.
Hints: an image of the drawing's size (see `train.hints.hints_from_image`), padded and resized the
same way. Tags outside the model's vocabulary are reported (a warning, or an error with `strict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from core.errors import UserError
from core.images import flatten_alpha, to_uint8


def read_image(path: str | Path, option: str) -> np.ndarray:
    """HxWxC uint8 (C = 1, 3 or 4, BGR order) from an image file; UserError naming `option` if unusable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{option} {path}: no such file")
    img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{option} {path}: not a readable image (PNG, JPEG, WebP, BMP, ...)")
    img = to_uint8(img)
    if img.dtype != np.uint8:
        raise UserError(f"{option} {path}: unsupported sample type {img.dtype}; save it as an 8-bit image")
    return img if img.ndim == 3 else img[:, :, None]


def to_line_art(img: np.ndarray, lineart: dict[str, Any]) -> tuple[np.ndarray, str]:
    """One-channel line art in the training polarity, and how it was obtained (for the console)."""
    img = flatten_alpha(img)
    invert = lineart.get("invert", True) is not False
    if img.shape[2] == 3 and not (
        np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])
    ):
        low, high = int(lineart.get("low") or 100), int(lineart.get("high") or 200)
        edges = cv2.Canny(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), low, high, apertureSize=3, L2gradient=False)
        return (255 - edges if invert else edges), f"colour image: Canny edges ({low}, {high})"
    gray = img[..., 0]
    dark_on_light = float(gray.mean()) > 127
    if dark_on_light != invert:
        return 255 - gray, "inverted (the drawing's polarity differs from the training line art's)"
    return gray.copy(), "line art"


def pad_square(img: np.ndarray, fill: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Centre `img` (HxW or HxWxC) on a square canvas of `fill`; returns it and the (x, y, w, h) box."""
    h, w = img.shape[:2]
    s = max(h, w)
    y0, x0 = (s - h) // 2, (s - w) // 2
    out = np.full((s, s, *img.shape[2:]), fill, img.dtype)
    out[y0 : y0 + h, x0 : x0 + w] = img
    return out, (x0, y0, w, h)


def tag_vector(vocab: Any, tags: Sequence[str], strict: bool) -> tuple[np.ndarray | None, list[str]]:
    """(multi-hot vector or None, tags not in the vocabulary); UserError with `strict` on unknown tags."""
    if vocab is None:
        return None, list(tags)
    unknown = vocab.unknown(tags)
    if unknown and strict:
        raise UserError(
            f"--tags: not in the model's vocabulary of {len(vocab)} tags: {', '.join(unknown)} "
            "(drop them, or leave out --strict to ignore them)"
        )
    return vocab.vector(tags), unknown


@torch.no_grad()
def colorize_array(
    model: Any,
    line: np.ndarray,
    tags: np.ndarray | None,
    hints: np.ndarray | None = None,
) -> np.ndarray:
    """Colour one line-art array (HxW uint8, training polarity) -> HxWx3 RGB uint8 of the same size.

    `hints`: HxWx3 RGB or HxWx4 RGBA uint8 of the same size, or None.
    """
    from train.conditioning import build_condition
    from train.hints import hints_from_image, no_hints

    opts = model.options
    size = opts["size"]
    invert = model.lineart.get("invert", True) is not False
    square, (x0, y0, w, h) = pad_square(line, 255 if invert else 0)
    small = shrink_lines(square, size, dark_lines=invert)
    dev = model.device
    line_t = torch.from_numpy(small.astype(np.float32) / 127.5 - 1)[None, None].to(dev)
    if hints is not None and opts.get("hints", True):
        hsq, _ = pad_square(hints, 0 if hints.shape[2] == 4 else 255)
        hint_rgb, hint_mask = hints_from_image(hsq, size)
        hint_rgb, hint_mask = hint_rgb.to(dev), hint_mask.to(dev)
    else:
        hint_rgb, hint_mask = no_hints(line_t)
    tag_t = torch.from_numpy(tags.astype(np.float32))[None].to(dev) if tags is not None else None
    cond = build_condition(line_t, hint_rgb, hint_mask, tag_t, opts["tags_mode"])
    out = model.G(cond, tag_t if opts["tags_mode"] == "embed" else None).float()
    rgb = ((out[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    s = square.shape[0]
    if s <= size:
        big = rgb if s == size else cv2.resize(rgb, (s, s), interpolation=cv2.INTER_AREA)
    else:
        big = recombine(rgb, small, square, dark_lines=invert)
    return np.ascontiguousarray(big[y0 : y0 + h, x0 : x0 + w])


def shrink_lines(square: np.ndarray, size: int, dark_lines: bool) -> np.ndarray:
    """Square line art (HxW uint8) -> size x size, keeping lines thinner than the shrink factor.

    Plain area averaging turns a 1 px line of a 20x larger drawing into a 5% grey the model never
    saw in training; widening the lines by the factor first (erosion for dark lines) keeps them
    about one model pixel wide and as dark as they were.
    """
    s = square.shape[0]
    if s == size:
        return square
    if s < size:
        return cv2.resize(square, (size, size), interpolation=cv2.INTER_CUBIC)
    k = round(s / size)
    if k >= 2:
        kernel = np.ones((k, k), np.uint8)
        square = cv2.erode(square, kernel) if dark_lines else cv2.dilate(square, kernel)
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def recombine(rgb: np.ndarray, small_line: np.ndarray, line: np.ndarray, dark_lines: bool) -> np.ndarray:
    """The model's colour (size x size x 3) at the full-resolution line art's size, under its lines.

    `small_line` is the model's input line art, `line` the drawing's (both in the training polarity).
    """
    s = line.shape[0]
    ink_small = small_line < 128 if dark_lines else small_line >= 128
    colour = rgb
    if ink_small.any() and not ink_small.all():
        # the model draws its own low-resolution lines: paint them out of the colour layer
        colour = cv2.inpaint(rgb, ink_small.astype(np.uint8), 2, cv2.INPAINT_TELEA)
    colour = cv2.resize(colour, (s, s), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    paper = (line if dark_lines else 255 - line).astype(np.float32) / 255.0  # 1 = paper, 0 = black ink
    return np.clip(colour * paper[:, :, None] + 0.5, 0, 255).astype(np.uint8)


def colorize_file(
    ckpt: str | Path,
    line_path: str | Path,
    out: str | Path,
    tags: Sequence[str] = (),
    hints_path: str | Path | None = None,
    strict: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """`train colorize`: read, colour and write; returns what happened (for the summary and tests)."""
    from core.atomic import atomic_write_bytes
    from train.pix2pix import load_colorizer

    model = load_colorizer(ckpt, device)
    img = read_image(line_path, "--line")
    line, how = to_line_art(img, model.lineart)
    warnings: list[str] = []
    vec, unknown = tag_vector(model.vocab, tags, strict)
    if model.vocab is None and tags:
        warnings.append(
            f"this model was trained without tags (--tags-mode none): ignoring --tags {' '.join(tags)}"
        )
    elif unknown:
        warnings.append(f"tags not in the model's vocabulary (ignored): {', '.join(unknown)}")
    hints = None
    if hints_path is not None:
        himg = read_image(hints_path, "--hints")
        if himg.shape[:2] != img.shape[:2]:
            raise UserError(
                f"--hints {hints_path} is {himg.shape[1]}x{himg.shape[0]} but the drawing is "
                f"{img.shape[1]}x{img.shape[0]}; draw the hints on an image of the drawing's size"
            )
        if not model.options.get("hints", True):
            warnings.append("this model was trained with --no-hints: ignoring --hints")
        else:
            hints = _hints_rgb(himg)
    rgb = colorize_array(model, line, vec, hints)
    out = Path(out)
    ext = out.suffix.lower() or ".png"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"--out {out}: cannot write a {ext} image; use .png or .jpg")
    atomic_write_bytes(out, buf.tobytes())
    return {"out": str(out), "input": how, "size": [int(img.shape[1]), int(img.shape[0])], "warnings": warnings,
            "unknown_tags": unknown if model.vocab is not None else []}  # fmt: skip


def _hints_rgb(img: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A)/gray -> RGB(A)."""
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 2:
        return np.concatenate([np.repeat(img[..., :1], 3, axis=2), img[..., 1:]], axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
