"""`train colorize`: any drawing in, a coloured image of the same size out; tags and hints checked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import run_cli
from tests.test_pix2pix import _one_thread, face_pair, lineart_dir, trained_run  # noqa: F401  (fixtures)


def _write(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


def test_line_art_from_any_drawing() -> None:
    from train.colorize import flatten_alpha, to_line_art

    params = {"low": 100, "high": 200, "invert": True}
    _, line = face_pair(1003, "red_hair", 64)
    out, how = to_line_art(line[:, :, None], params)
    assert how == "line art" and np.array_equal(out, line)
    out, how = to_line_art((255 - line)[:, :, None], params)  # light lines on dark: inverted
    assert "inverted" in how and np.array_equal(out, line)
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = line[:, :, None]
    rgba[..., 3] = 255
    rgba[:8, :, 3] = 0  # a transparent strip becomes white
    out, _ = to_line_art(rgba, params)
    assert (out[:8] == 255).all() and np.array_equal(out[8:], line[8:])
    assert flatten_alpha(rgba).shape == (64, 64, 3)
    colour, _ = face_pair(1003, "red_hair", 64)
    bgr = cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)
    out, how = to_line_art(bgr, params)
    assert "Canny" in how
    assert np.array_equal(out, 255 - cv2.Canny(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 100, 200))


def test_pad_square_keeps_the_drawing() -> None:
    from train.colorize import pad_square

    img = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10)
    sq, (x, y, w, h) = pad_square(img, 255)
    assert sq.shape == (10, 10) and (x, y, w, h) == (0, 2, 10, 6)
    assert np.array_equal(sq[y : y + h, x : x + w], img) and (sq[:2] == 255).all()


def test_colorize_cli_any_size_tags_and_hints(trained_run: Path, tmp_path: Path) -> None:  # noqa: F811
    _, line = face_pair(1005, "red_hair", 96)
    drawing = np.full((120, 96), 255, np.uint8)  # non-square, larger than the model's 32 px
    drawing[12:108] = line
    src = _write(tmp_path / "drawing.png", drawing)
    env = {"OMP_NUM_THREADS": "1"}

    r = run_cli("train", "colorize", "--ckpt", str(trained_run), "--line", str(src), "--tags", "blue_hair nonsense_tag",
                "--out", str(tmp_path / "out.png"), cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "nonsense_tag" in r.stderr and "vocabulary" in r.stderr and "blue_hair" not in r.stderr
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (120, 96, 3)
    assert out.std() > 10  # not a flat image

    r = run_cli("train", "colorize", "--ckpt", str(trained_run), "--line", str(src), "--tags", "nonsense_tag",
                "--strict", "--out", str(tmp_path / "strict.png"), cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 2 and "nonsense_tag" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "strict.png").exists()

    wrong = _write(tmp_path / "hints_small.png", np.zeros((50, 50, 4), np.uint8))
    r = run_cli("train", "colorize", "--ckpt", str(trained_run), "--line", str(src), "--hints", str(wrong),
                "--out", str(tmp_path / "h.png"), cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 2 and "50x50" in r.stderr and "96x120" in r.stderr

    r = run_cli("train", "colorize", "--ckpt", str(tmp_path / "nope.pt"), "--line", str(src),
                "--out", str(tmp_path / "x.png"), cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 2 and "no such checkpoint" in r.stderr


def test_hints_move_the_colour(trained_run: Path) -> None:  # noqa: F811
    """A green hint over the hair pulls its colour towards green (the model saw hints in training)."""
    from train.colorize import colorize_array
    from train.pix2pix import load_colorizer

    model = load_colorizer(trained_run)
    _, line = face_pair(1009, "red_hair", 32)
    tags = model.vocab.vector(["1girl", "red_hair"])
    red, _ = face_pair(1009, "red_hair", 32)
    blue, _ = face_pair(1009, "blue_hair", 32)
    hair = np.abs(red.astype(int) - blue.astype(int)).sum(2) > 100
    hints = np.zeros((32, 32, 4), np.uint8)
    hints[hair] = (40, 200, 40, 255)
    plain = colorize_array(model, line, tags)[hair].mean(0)
    hinted = colorize_array(model, line, tags, hints)[hair].mean(0)
    # 150 tiny steps only begin to use hints: ask for the direction, clearly beyond rounding noise
    assert hinted[1] - plain[1] > 5 and plain[0] - hinted[0] > 5, (plain, hinted)


def test_colorize_refuses_another_kind_of_checkpoint(tmp_path: Path) -> None:
    import torch

    from core.errors import UserError
    from train.pix2pix import load_colorizer

    torch.save({"kind": "dcgan", "options": {}}, tmp_path / "dcgan.pt")
    with pytest.raises(UserError, match="dcgan snapshot"):
        load_colorizer(tmp_path / "dcgan.pt")


def _one_pixel_drawing(h: int, w: int) -> np.ndarray:
    """A large drawing of 1 px black lines on white (circles and strokes, no anti-aliasing)."""
    rng = np.random.default_rng(3)
    img = np.full((h, w), 255, np.uint8)
    for _ in range(40):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, c, int(rng.integers(20, 400)), 0, 1, lineType=cv2.LINE_8)
        d = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, c, d, 0, 1, lineType=cv2.LINE_8)
    return img


def test_large_drawing_keeps_its_size_and_its_crisp_dark_lines(trained_run: Path) -> None:  # noqa: F811
    """A 2000x1500 drawing of 1 px lines comes back at 2000x1500, its line pixels as dark as they were,
    no grey halo beside them, and the rest coloured by the model (its colour, upsampled)."""
    from train.colorize import colorize_array, pad_square
    from train.pix2pix import load_colorizer

    model = load_colorizer(trained_run)
    drawing = _one_pixel_drawing(1500, 2000)
    tags = model.vocab.vector(["1girl", "blue_hair"])
    out = colorize_array(model, drawing, tags)
    assert out.shape == (1500, 2000, 3) and out.dtype == np.uint8
    ink = drawing < 128
    assert ink.mean() > 0.003  # the drawing has lines
    # every line pixel stays within a few levels of the drawing's own (black) line
    assert int(out[ink].max()) <= int(drawing[ink].max()) + 8
    # crisp: no grey band beside the lines (the old upscaled output had its lines at ~155 levels and
    # the pixels beside them the same): two pixels away is as light as the colour a little further off
    dist = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 3)
    beside, off = out[(dist >= 1.5) & (dist < 2.5)].mean(), out[(dist >= 6) & (dist < 10)].mean()
    assert abs(beside - off) < 12 and beside - out[ink].mean() > 80, (beside, off)
    # coloured by the model, not white paper: colour varies and has chroma away from the lines
    far = out[dist >= 12].astype(int)
    assert far.std() > 3 and np.abs(far[:, 0] - far[:, 2]).mean() > 5
    # plain shrinking would have left the model only a faint grey of the 1 px lines
    from train.colorize import shrink_lines

    square, _ = pad_square(drawing, 255)
    assert cv2.resize(square, (32, 32), interpolation=cv2.INTER_AREA).min() > 200
    assert shrink_lines(square, 32, dark_lines=True).min() < 60
