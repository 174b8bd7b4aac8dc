"""Images in and out of `train style`: decoding (errors naming the option), resizing, tensors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from core.atomic import atomic_write_bytes
from core.errors import UserError
from core.images import ImageRejected, load_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


def read_rgb(path: str | Path, option: str) -> np.ndarray:
    """H x W x 3 uint8 RGB of an image file; UserError naming `option` when it does not decode."""
    try:
        return load_image(path)
    except ImageRejected as e:
        raise UserError(f"{option} {path}: not a usable image ({e})") from None


def fit_long_side(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is `long_side` (aspect kept, at least 1 px)."""
    h, w = hw
    k = long_side / max(h, w)
    return max(1, round(h * k)), max(1, round(w * k))


def resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize H x W x C uint8 (area averaging down, bicubic up)."""
    h, w = hw
    if (h, w) == img.shape[:2]:
        return img
    interp = cv2.INTER_AREA if h * w < img.shape[0] * img.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(img, (w, h), interpolation=interp)


def to_tensor(img: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x H x W float in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
    return t.unsqueeze(0).contiguous().to(device)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W in [0, 1] -> H x W x 3 uint8 (rounded, clipped)."""
    a = t.detach()[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(a)


def encode(img: np.ndarray, path: str | Path) -> bytes:
    """The file bytes of an RGB uint8 image in the format of `path`'s suffix."""
    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise UserError(f"--out {path}: OpenCV cannot write {suffix} files; use .png")
    return buf.tobytes()


def write_image(img: np.ndarray, path: str | Path) -> None:
    atomic_write_bytes(path, encode(img, path))


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
