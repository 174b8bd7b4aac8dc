"""Robust decoding of what a booru really serves into H x W x 3 uint8 arrays.

Booru files lie about their type (a `.jpg` that is a PNG, an HTML error page saved as an image),
arrive truncated or empty, come as CMYK JPEGs, palette/grey/16-bit PNGs with transparency or
animated GIFs, and now and then claim absurd dimensions. `load_image` sniffs the bytes, checks the
header's dimensions before decoding anything, decodes with OpenCV where it is right and fast and
with Pillow where OpenCV is wrong (CMYK JPEG, GIF), flattens transparency onto white, and raises
`ImageRejected(reason, detail)` for everything it cannot turn into pixels.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MAX_PIXELS = 64_000_000

# Rejection reasons (short snake_case words; stages record them as manifest statuses).
EMPTY = "empty"
MISSING = "missing"
TRUNCATED = "truncated"
NOT_IMAGE = "not_image"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
REASONS = (EMPTY, MISSING, TRUNCATED, NOT_IMAGE, UNDECODABLE, TOO_LARGE)


class ImageRejected(Exception):
    """A file that cannot be used as an image; `reason` is one of REASONS, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)

_PNG_IEND = b"IEND\xaeB`\x82"


def sniff_format(data: bytes) -> str | None:
    """The image format the bytes really are ("png", "jpeg", "gif", "webp", "bmp"), or None."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            # "BM" alone is too weak: also require a plausible BMP header size.
            if name == "bmp" and (len(data) < 26 or data[14] not in (12, 40, 52, 56, 64, 108, 124)):
                continue
            return name
    return None


def _describe_non_image(data: bytes) -> str:
    """A short human description of bytes that carry no image signature."""
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "HTML document (an error or login page saved as the image?)"
    if head.startswith((b"<?xml", b"<")):
        return "XML/markup document"
    if head.startswith((b"{", b"[")):
        return "JSON document"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM/Matroska video"
    if data[4:8] == b"ftyp":
        return "MP4/QuickTime video"
    if data[:3] == b"CWS" or data[:3] == b"FWS":
        return "Flash (SWF) file"
    if data[:4] in (b"PK\x03\x04", b"Rar!"):
        return "archive"
    return f"unknown signature {data[:8].hex()}"


def _jpeg_is_complete(data: bytes) -> bool:
    """True when an end-of-image marker follows the last start-of-scan (entropy data never holds FFD9)."""
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos + 2) >= 0


def _header(data: bytes, fmt: str) -> tuple[int, int, str]:
    """(width, height, mode) from the header alone (Pillow's lazy open decodes no pixels)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size[0], im.size[1], im.mode
    except Image.DecompressionBombError as e:
        raise ImageRejected(TOO_LARGE, str(e)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if len(data) < 64:
            raise ImageRejected(TRUNCATED, f"{fmt} header cut short ({len(data)} bytes)") from None
        raise ImageRejected(UNDECODABLE, f"{fmt} header unreadable: {e}") from None


def load_image(
    src: bytes | str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, *, bgr: bool = False
) -> np.ndarray:
    """Decode an image file or bytes into an H x W x 3 uint8 array (RGB, or BGR when `bgr`).

    Transparency is flattened onto white, 16-bit samples are scaled to 8 bits, animated images
    give their first frame, JPEG EXIF orientation is applied. Raises ImageRejected (reasons:
    empty, missing, truncated, not_image, undecodable, too_large) for anything unusable; images
    with more than `max_pixels` pixels are rejected from their header, before any decoding.
    """
    if isinstance(src, (str, Path)):
        try:
            data = Path(src).read_bytes()
        except FileNotFoundError:
            raise ImageRejected(MISSING, f"no such file: {src}") from None
        except IsADirectoryError:
            raise ImageRejected(MISSING, f"is a directory: {src}") from None
    else:
        data = bytes(src)
    if not data:
        raise ImageRejected(EMPTY, "zero-byte file")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected(NOT_IMAGE, _describe_non_image(data))

    width, height, mode = _header(data, fmt)
    if width <= 0 or height <= 0:
        raise ImageRejected(UNDECODABLE, f"{fmt} header says {width}x{height}")
    if width * height > max_pixels:
        raise ImageRejected(TOO_LARGE, f"{width}x{height} exceeds {max_pixels} pixels")
    if fmt == "jpeg" and not _jpeg_is_complete(data):
        raise ImageRejected(TRUNCATED, "JPEG has no end-of-image marker after its last scan")
    if fmt == "png" and data.rfind(_PNG_IEND) < 0:
        raise ImageRejected(TRUNCATED, "PNG has no IEND chunk")

    if fmt == "gif" or (fmt == "jpeg" and mode in ("CMYK", "YCCK")):
        rgb = _decode_pillow(data, fmt)
        return rgb[:, :, ::-1].copy() if bgr else rgb
    out = _decode_cv2(data, fmt)
    if out is None:  # OpenCV declined (e.g. an animated WebP): let Pillow try.
        rgb = _decode_pillow(data, fmt)
        return rgb[:, :, ::-1].copy() if bgr else rgb
    if bgr:
        return out
    import cv2

    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def _decode_cv2(data: bytes, fmt: str) -> np.ndarray | None:
    """Decode with OpenCV into BGR uint8, or None when it cannot."""
    import cv2
    import numpy as np

    buf = np.frombuffer(data, np.uint8)
    if fmt == "jpeg":
        # IMREAD_COLOR applies EXIF orientation and converts grey JPEGs.
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None:
        return None
    if fmt == "bmp" and arr.ndim == 3 and arr.shape[2] == 4 and not arr[:, :, 3].any():
        arr = arr[:, :, :3]  # 32-bit BMPs often leave the alpha byte unused (all zero): opaque
    return _to_bgr8(arr)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """16-bit samples rounded to 8 bits (x / 257); 8-bit arrays pass through unchanged."""
    import numpy as np

    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return arr


def flatten_alpha(img: np.ndarray) -> np.ndarray:
    """Composite an H x W x 2 (grey + alpha) or x 4 (colour + alpha) uint8 image onto white.

    Returns 1 or 3 channels; other channel counts pass through. The one rule every reader of
    booru images follows: transparency becomes white, never black.
    """
    import numpy as np

    if img.ndim != 3 or img.shape[2] not in (2, 4):
        return img
    colour, alpha = img[..., :-1], img[..., -1:]
    if alpha.min() == 255:
        return np.ascontiguousarray(colour)
    a = alpha.astype(np.uint16)
    out = (colour.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _to_bgr8(arr: np.ndarray) -> np.ndarray:
    """Any OpenCV decode result (1/2/3/4 channels, 8/16-bit or float) to BGR uint8 on white."""
    import cv2
    import numpy as np

    arr = to_uint8(arr)
    if arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float32) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr = flatten_alpha(arr)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.shape[2] == 1:
        return cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(arr)


def _decode_pillow(data: bytes, fmt: str) -> np.ndarray:
    """Decode with Pillow (first frame), flattening transparency onto white; returns RGB uint8."""
    import numpy as np
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.seek(0)
                im.load()
                if fmt == "jpeg":
                    im = ImageOps.exif_transpose(im)
                has_alpha = im.mode in ("RGBA", "LA", "PA") or (
                    im.mode in ("P", "L", "RGB") and "transparency" in im.info
                )
                if has_alpha:
                    rgba = np.asarray(im.convert("RGBA"))
                    return flatten_alpha(rgba)
                return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except Image.DecompressionBombError as e:
        raise ImageRejected(TOO_LARGE, str(e)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e)
        reason = TRUNCATED if "truncated" in msg.lower() or isinstance(e, EOFError) else UNDECODABLE
        raise ImageRejected(reason, f"{fmt}: {msg}") from None
