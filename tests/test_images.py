"""core.images: every kind of file a booru serves, generated here with Pillow and OpenCV."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.images import ImageRejected, load_image, sniff_format


def _pil_bytes(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _gradient(w: int = 64, h: int = 48) -> np.ndarray:
    """An RGB test picture with distinct channels (so that a BGR/RGB swap would show)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 60)], axis=-1).astype(np.uint8)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_sniff_format() -> None:
    rgb = Image.fromarray(_gradient())
    assert sniff_format(_pil_bytes(rgb, "PNG")) == "png"
    assert sniff_format(_pil_bytes(rgb, "JPEG")) == "jpeg"
    assert sniff_format(_pil_bytes(rgb, "GIF")) == "gif"
    assert sniff_format(_pil_bytes(rgb, "WEBP")) == "webp"
    assert sniff_format(_pil_bytes(rgb, "BMP")) == "bmp"
    assert sniff_format(b"<!DOCTYPE html><html>") is None
    assert sniff_format(b"BM not really a bitmap") is None
    assert sniff_format(b"") is None


def test_rgb_jpeg_and_png_keep_channel_order() -> None:
    rgb = _gradient()
    png = load_image(_pil_bytes(Image.fromarray(rgb), "PNG"))
    assert png.dtype == np.uint8 and png.shape == (48, 64, 3)
    assert np.array_equal(png, rgb)
    jpg = load_image(_pil_bytes(Image.fromarray(rgb), "JPEG", quality=95))
    assert np.abs(jpg.astype(int) - rgb.astype(int)).mean() < 3
    bgr = load_image(_pil_bytes(Image.fromarray(rgb), "PNG"), bgr=True)
    assert np.array_equal(bgr, rgb[:, :, ::-1])


def test_wrong_extension_is_sniffed(tmp_path: Path) -> None:
    rgb = _gradient()
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(_pil_bytes(Image.fromarray(rgb), "PNG"))
    assert np.array_equal(load_image(path), rgb)
    assert np.array_equal(load_image(str(path)), rgb)


def test_transparent_png_flattens_on_white() -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (200, 10, 10, 255)  # opaque red half
    rgba[:, 15:] = (0, 0, 0, 0)  # fully transparent black half: must become white
    rgba[0, 0] = (0, 0, 0, 128)  # half-transparent black: mid grey
    out = load_image(_pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.shape == (20, 30, 3)
    assert tuple(out[5, 5]) == (200, 10, 10)
    assert tuple(out[5, 25]) == (255, 255, 255)
    assert all(120 <= v <= 130 for v in out[0, 0])


def test_palette_png_with_transparency() -> None:
    im = Image.new("P", (10, 10), 0)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    for x in range(5):
        im.putpixel((x, 3), 1)
    out = load_image(_pil_bytes(im, "PNG", transparency=0))
    assert tuple(out[0, 9]) == (255, 255, 255)  # transparent index 0 -> white, not black
    assert tuple(out[3, 2]) == (0, 200, 0)


def test_greyscale_grey_alpha_and_16bit_png() -> None:
    grey = np.arange(0, 200, dtype=np.uint8).reshape(10, 20)
    out = load_image(_pil_bytes(Image.fromarray(grey, "L"), "PNG"))
    assert (
        out.shape == (10, 20, 3) and np.array_equal(out[:, :, 0], grey) and np.array_equal(out[:, :, 2], grey)
    )

    la = Image.new("LA", (8, 8), (0, 0))
    out = load_image(_pil_bytes(la, "PNG"))
    assert (out == 255).all()

    rgb16 = (_gradient().astype(np.uint16) * 257)[:, :, ::-1]  # cv2 writes BGR
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(rgb16))
    assert ok
    out = load_image(enc.tobytes())
    assert out.dtype == np.uint8 and np.array_equal(out, _gradient())

    bgra16 = np.zeros((6, 6, 4), np.uint16)
    bgra16[..., 3] = 0  # fully transparent 16-bit
    ok, enc = cv2.imencode(".png", bgra16)
    assert (load_image(enc.tobytes()) == 255).all()


def test_cmyk_jpeg_has_the_right_colours() -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:] = (220, 40, 30)
    data = _pil_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = load_image(data)
    assert np.abs(out.astype(int) - rgb.astype(int)).max() < 12  # OpenCV alone gets this wrong


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (12, 12), c) for c in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = load_image(buf.getvalue())
    assert out.shape == (12, 12, 3)
    r, g, b = (int(v) for v in out[6, 6])
    assert r > 200 and g < 40 and b < 40


def test_transparent_gif_flattens_on_white() -> None:
    im = Image.new("P", (10, 10), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((1, 1), 1)
    out = load_image(_pil_bytes(im, "GIF", transparency=0))
    assert tuple(out[5, 5]) == (255, 255, 255)
    assert tuple(out[1, 1]) == (255, 0, 0)


def test_bmp_with_unused_alpha_byte_is_opaque() -> None:
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., :3] = (10, 20, 200)  # BGR red, alpha byte 0 everywhere
    ok, enc = cv2.imencode(".bmp", bgra)
    assert ok and sniff_format(enc.tobytes()) == "bmp"
    assert tuple(load_image(enc.tobytes())[4, 4]) == (200, 20, 10)


def test_webp_and_bmp() -> None:
    rgb = _gradient()
    assert np.array_equal(load_image(_pil_bytes(Image.fromarray(rgb), "BMP")), rgb)
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    out = load_image(_pil_bytes(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True))
    assert (out == 255).all()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "not_image"),
        (b"\x1a\x45\xdf\xa3" + b"\0" * 40, "not_image"),
        (b"\x00\x01\x02garbage" * 10, "not_image"),
    ],
)
def test_rejects_non_images(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as exc:
        load_image(data)
    assert exc.value.reason == reason
    assert exc.value.detail


def test_html_detail_says_html() -> None:
    with pytest.raises(ImageRejected, match="HTML"):
        load_image(b"\n  <html><head><title>error</title></head></html>")


def test_truncated_files() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    for fmt in ("JPEG", "PNG"):
        data = _pil_bytes(Image.fromarray(rgb), fmt)
        with pytest.raises(ImageRejected) as exc:
            load_image(data[: len(data) // 2])
        assert exc.value.reason == "truncated", fmt
    with pytest.raises(ImageRejected) as exc:
        load_image(b"\x89PNG\r\n\x1a\n\0\0")
    assert exc.value.reason == "truncated"


def test_progressive_jpeg_and_trailing_bytes_are_fine() -> None:
    rgb = _gradient()
    data = _pil_bytes(Image.fromarray(rgb), "JPEG", progressive=True, quality=95)
    assert load_image(data + b"\0" * 100).shape == (48, 64, 3)
    with pytest.raises(ImageRejected) as exc:
        load_image(data[: len(data) - 40])
    assert exc.value.reason == "truncated"


def test_corrupt_png_is_undecodable() -> None:
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)
    png = _pil_bytes(Image.fromarray(noise), "PNG")
    start = png.find(b"IDAT") + 8
    broken = png[:start] + bytes(b ^ 0x5A for b in png[start : start + 200]) + png[start + 200 :]
    with pytest.raises(ImageRejected) as exc:
        load_image(broken)
    assert exc.value.reason == "undecodable"


def test_decompression_bomb_is_rejected_from_the_header() -> None:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(ImageRejected) as exc:
        load_image(bomb)
    assert exc.value.reason == "too_large"
    # Below Pillow's own bomb threshold, our limit still applies.
    with pytest.raises(ImageRejected) as exc:
        load_image(_pil_bytes(Image.fromarray(_gradient()), "PNG"), max_pixels=1000)
    assert exc.value.reason == "too_large" and "64x48" in exc.value.detail


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageRejected) as exc:
        load_image(tmp_path / "nope.png")
    assert exc.value.reason == "missing"


def test_rejection_survives_pickling() -> None:
    e = pickle.loads(pickle.dumps(ImageRejected("truncated", "cut")))
    assert (e.reason, e.detail, str(e)) == ("truncated", "cut", "truncated: cut")
