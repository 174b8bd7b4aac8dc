"""Decoding shard fields: images with OpenCV, `.npy` with numpy, `.json` with json.

Images come back as HxWxC uint8 arrays in RGB order (C is 1 for grayscale, 3 for colour):
16-bit images are scaled to 8 bits and an alpha channel is flattened onto white.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from core.images import flatten_alpha, to_uint8

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "bmp"})


class DecodeError(ValueError):
    """A sample's field could not be decoded into the expected form."""


def is_image_field(field: str) -> bool:
    """`png`, `color.png`, `line.png`, ...: the last extension names an image format."""
    return field.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS


def is_npy_field(field: str) -> bool:
    return field.rsplit(".", 1)[-1].lower() == "npy"


def is_json_field(field: str) -> bool:
    return field.rsplit(".", 1)[-1].lower() == "json"


def decode_image_bgr(data: bytes, where: str = "") -> np.ndarray:
    """Decode image bytes to HxWxC uint8 (C = 1 or 3) in OpenCV's BGR channel order."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DecodeError(f"{where}: not a decodable image ({len(data)} bytes)")
    img = to_uint8(img)
    if img.dtype != np.uint8:
        raise DecodeError(f"{where}: unsupported image sample type {img.dtype}")
    if img.ndim == 2:
        return img[:, :, None]
    return flatten_alpha(img)


def match_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """A decoded BGR/gray HxWxC image with `channels` (1 or 3) channels, still in BGR order."""
    have = img.shape[2]
    if have == channels:
        return img
    if have == 1 and channels == 3:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if have == 3 and channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    raise DecodeError(f"cannot convert {have} channels to {channels}")


def decode_image(data: bytes, channels: int | None = None, where: str = "") -> np.ndarray:
    """Decode image bytes to HxWxC uint8 RGB (or gray); `channels` forces 1 or 3."""
    img = decode_image_bgr(data, where)
    img = match_channels(img, channels or img.shape[2])
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.shape[2] == 3 else img


def decode_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def decode_json(data: bytes) -> Any:
    return json.loads(data)


def image_batch(
    blobs: Sequence[bytes], size: tuple[int, int], channels: int, names: Sequence[str], field: str
) -> torch.Tensor:
    """Decode same-size images into one contiguous uint8 tensor [B, C, H, W] (RGB or gray)."""
    h, w = size
    buf = np.empty((len(blobs), channels, h, w), np.uint8)
    for i, data in enumerate(blobs):
        img = decode_image_bgr(data, f"{names[i]}.{field}")
        if img.shape[0] != h or img.shape[1] != w:
            raise DecodeError(
                f"{names[i]}.{field}: image is {img.shape[1]}x{img.shape[0]}, expected {w}x{h} "
                "like the first sample (all images of a field must have the same size)"
            )
        img = match_channels(img, channels)
        if channels == 3:
            # HWC BGR -> CHW RGB straight into the batch: several times faster than a
            # batch-wide permute().contiguous() on uint8
            cv2.split(img, [buf[i, 2], buf[i, 1], buf[i, 0]])
        else:
            buf[i, 0] = img[:, :, 0]
    return torch.from_numpy(buf)


def npy_batch(blobs: Sequence[bytes], keys: Sequence[str], field: str) -> torch.Tensor:
    """Stack `.npy` arrays of one shape into a float32 tensor [B, ...]."""
    arrays = [decode_npy(b) for b in blobs]
    shape = arrays[0].shape
    for key, a in zip(keys, arrays, strict=True):
        if a.shape != shape:
            raise DecodeError(f"{key}.{field}: array shape {a.shape} differs from {shape} of {keys[0]}")
    return torch.from_numpy(np.stack(arrays).astype(np.float32, copy=False))


def collate(
    samples: Sequence[dict[str, Any]],
    fields: Sequence[str],
    sizes: dict[str, tuple[int, int]],
    channels: dict[str, int],
) -> dict[str, Any]:
    """Turn raw samples ({"__key__": str, field: bytes}) into one batch dict."""
    keys = [s["__key__"] for s in samples]
    # where each sample came from, for error messages: "<shard file>:<key>"
    names = [f"{str(s.get('__url__', '?')).rsplit('/', 1)[-1]}:{s['__key__']}" for s in samples]
    batch: dict[str, Any] = {"__key__": keys}
    for field in fields:
        blobs = []
        for s in samples:
            data = s.get(field)
            if data is None:
                raise DecodeError(f"sample {s['__key__']} in {s.get('__url__', '?')} has no {field} file")
            blobs.append(data)
        if is_image_field(field):
            batch[field] = image_batch(blobs, sizes[field], channels[field], names, field)
        elif is_npy_field(field):
            batch[field] = npy_batch(blobs, names, field)
        elif is_json_field(field):
            batch[field] = [decode_json(b) for b in blobs]
        else:
            batch[field] = list(blobs)
    return batch
