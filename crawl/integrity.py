"""Is a downloaded file a picture? A cheap full check of every byte, decoding at reduced size where it can.

A body can carry a valid signature and still be garbage (a cache serving a broken file, a body cut
short with no Content-Length to tell). PNG is checked from its structure: every chunk's CRC-32,
the IDAT zlib stream inflated to its end and to exactly the size the header implies, IEND present;
that reads every byte and finds any corruption a decoder would, at a quarter of Pillow's decode
cost (the rows are not unfiltered). JPEG is decoded through libjpeg's DCT scaling at 1/8 of the
size, which still reads every entropy-coded byte: by OpenCV when the bytes are known to be the
site's own file (their md5 is the API's; OpenCV is six times cheaper here), else by Pillow, which
unlike OpenCV fails on broken Huffman data instead of filling the picture with grey. GIF (first
frame), WebP and BMP are decoded fully by Pillow. bench/bench_crawl.py measures what it costs.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_MAX_PNG_RAW = 1 << 32  # inflated bytes we are willing to count through (a 16k x 16k RGBA16 image)


def decode_problem(source: Path | bytes, ext: str, md5_confirmed: bool = False) -> str | None:
    """None when `source` (a file or its bytes) is a complete `ext` image, else what is wrong.

    `md5_confirmed`: the bytes' md5 is the one the API lists, so they are the site's own file.
    """
    data = Path(source).read_bytes() if isinstance(source, Path) else source
    if ext == "png":
        return _png_problem(data)
    if ext == "jpg" and md5_confirmed:
        return _jpeg_problem_cv2(data)
    return _pillow_problem(data, ext)


def _jpeg_problem_cv2(data: bytes) -> str | None:
    import cv2
    import numpy as np

    sos = data.rfind(b"\xff\xda")
    if sos < 0 or data.find(b"\xff\xd9", sos + 2) < 0:
        return "JPEG has no end-of-image marker after its last scan"
    if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        return "JPEG does not decode"
    return None


def _pillow_problem(data: bytes, ext: str) -> str | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, EXIF or ICC complaints
            with Image.open(io.BytesIO(data)) as im:
                if ext == "jpg":
                    im.draft("L", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
                im.load()
    except Image.DecompressionBombError:
        return None  # too many pixels to decode here; the stages refuse such files by their header
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def _png_problem(data: bytes) -> str | None:
    """Check a PNG's chunks, CRCs and zlib stream without unfiltering its rows."""
    if not data.startswith(_PNG_SIGNATURE):
        return "no PNG signature"
    pos, expected, inflated, ended = 8, 0, 0, False
    z = zlib.decompressobj()
    first = True
    while True:
        if pos + 12 > len(data):
            return f"PNG cut short at byte {pos} (no IEND chunk)"
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return f"PNG chunk {kind!r} at byte {pos} runs past the end of the file"
        body = data[pos + 8 : end - 4]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack(">I", data[end - 4 : end])[0]:
            if kind[0] & 0x20 == 0:  # a critical chunk; a broken ancillary one libpng skips, so do we
                return f"PNG chunk {kind!r} at byte {pos} fails its CRC"
            pos = end
            continue
        if first:
            if kind != b"IHDR" or length != 13:
                return "PNG does not start with an IHDR chunk"
            expected = _png_raw_size(body)
            if expected is None:
                return "PNG header is invalid"
            first = False
        elif kind == b"IDAT":
            if ended:
                return "PNG has image data after the end of its zlib stream"
            try:
                # max_length bounds memory; what is not returned yet waits in unconsumed_tail
                chunk = z.decompress(body, 1 << 20)
                inflated += len(chunk)
                while z.unconsumed_tail and inflated <= expected:
                    inflated += len(z.decompress(z.unconsumed_tail, 1 << 20))
            except zlib.error as e:
                return f"PNG image data is corrupt ({e})"
            if inflated > expected:
                return f"PNG image data inflates to more than the {expected} bytes its header implies"
            ended = z.eof
        elif kind == b"IEND":
            break
        pos = end
    if not ended:
        return "PNG image data stops before the end of its zlib stream"
    if inflated != expected:
        return f"PNG image data inflates to {inflated} bytes, its header implies {expected}"
    return None


def _png_raw_size(ihdr: bytes) -> int | None:
    """Bytes of filtered scanlines the IHDR implies (each row: a filter byte and its samples)."""
    width, height, depth, colour, _comp, _filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = _PNG_CHANNELS.get(colour)
    if channels is None or width == 0 or height == 0 or depth not in (1, 2, 4, 8, 16) or interlace > 1:
        return None

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * channels * depth + 7) // 8)

    if interlace == 0:
        size = rows(width, height)
    else:  # Adam7: seven passes, each a smaller image
        passes = (
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        )
        size = sum(
            rows(
                (width - x0 + dx - 1) // dx if width > x0 else 0,
                (height - y0 + dy - 1) // dy if height > y0 else 0,
            )
            for x0, y0, dx, dy in passes
        )
    return size if size <= _MAX_PNG_RAW else None
