"""`train stylize` with a tiny trained fast-style network: any image size, tiles without seams,
colour preservation, a streamed video keeping its frames, size and rate, OUT.json, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from tests.conftest import run_cli
from tests.test_fast_style import fs_inputs, fs_run, make_clip  # noqa: F401 (fixtures)


def _image(path: Path, w: int = 150, h: int = 110) -> Path:
    rng = np.random.default_rng(3)
    img = cv2.resize(
        (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC
    )
    cv2.imwrite(str(path), img)
    return path


def test_image_any_size_and_luminance(fs_run, tmp_path, one_torch_thread):  # noqa: F811 (the fixture)
    from train.stylize.run import stylize

    src = _image(tmp_path / "photo.png")
    r = stylize(str(fs_run), str(src), str(tmp_path / "out.png"), progress=False)
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (110, 150, 3) and r["width"] == 150 and r["height"] == 110
    assert json.loads((tmp_path / "out.json").read_text())["frames"] == 1
    # luminance: the output keeps the input's colour channels (Cr, Cb) within rounding
    stylize(str(fs_run), str(src), str(tmp_path / "lum.jpg"), preserve_color="luminance", progress=False)
    stylize(str(fs_run), str(src), str(tmp_path / "lum.png"), preserve_color="luminance", progress=False)
    lum = cv2.cvtColor(cv2.imread(str(tmp_path / "lum.png")), cv2.COLOR_BGR2YCrCb).astype(int)
    ref = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2YCrCb).astype(int)
    styl = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb).astype(int)
    assert np.abs(lum[..., 1:] - ref[..., 1:]).mean() < 3 < np.abs(styl[..., 1:] - ref[..., 1:]).mean()


def test_tiles_show_no_seam(fs_run, tmp_path, one_torch_thread):  # noqa: F811 (the fixture)
    from train.fast_style.checkpoint import load_transformer
    from train.stylize.frames import Stylizer

    net, _ = load_transformer(fs_run)
    img = cv2.imread(str(_image(tmp_path / "big.png", 200, 120)))
    whole = Stylizer(net, "cpu", tile=4096)([img])[0].astype(float)
    s = Stylizer(net, "cpu", tile=96, overlap=48)
    tiled = s([img])[0].astype(float)
    assert s.tiles_last > 1 and tiled.shape == whole.shape
    # the tiled output is the whole-image output up to small differences...
    assert np.abs(tiled - whole).mean() < 0.2 * whole.std()
    # ...and no column has a sharper horizontal change than the whole-image output has there (a seam
    # would be a column where tiles meet with a jump)
    for axis in (0, 1):
        g_tiled = np.abs(np.diff(tiled, axis=axis)).mean(axis=(1 - axis, 2))
        g_whole = np.abs(np.diff(whole, axis=axis)).mean(axis=(1 - axis, 2))
        assert (g_tiled / g_whole).max() < 1.3


def test_video_keeps_frames_size_and_rate(fs_run, tmp_path):  # noqa: F811 (the fixture)
    clip = make_clip(tmp_path / "clip.mp4", frames=20, fps=10, size=(64, 48))
    out = tmp_path / "styled" / "clip-out.mp4"
    res = run_cli(
        "train", "stylize", "--ckpt", str(fs_run), "--in", str(clip), "--out", str(out), "--batch", "4"
    )
    assert res.returncode == 0, res.stderr
    assert "stylize:" in res.stdout and "20 frames at 10 fps" in res.stdout
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 20 and cap.get(cv2.CAP_PROP_FPS) == 10
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (64, 48)
    cap.release()
    r = json.loads((tmp_path / "styled" / "clip-out.json").read_text())
    assert r["frames"] == 20 and r["fps"] == 10 and r["seconds"] > 0
    assert r["warp_error"] > 0 and r["input_warp_error"] > 0
    assert [p.name for p in out.parent.iterdir()] == sorted(["clip-out.mp4", "clip-out.json"]) or set(
        p.name for p in out.parent.iterdir()
    ) == {"clip-out.mp4", "clip-out.json"}  # no temporary left


def test_warp_error_is_low_for_a_static_video_and_masks_occlusions():
    from train.stylize.warp import WarpError

    rng = np.random.default_rng(0)
    frame = cv2.resize(
        (rng.random((8, 8, 3)) * 255).astype(np.uint8), (64, 48), interpolation=cv2.INTER_CUBIC
    )
    m = WarpError()
    for t in range(4):
        shifted = np.roll(frame, t, axis=1)
        m.add(shifted, shifted)
    r = m.result()
    assert r["warp_error"] == r["input_warp_error"] and r["warp_error"] < 3
    flicker = WarpError()
    for t in range(4):
        shifted = np.roll(frame, t, axis=1)
        flicker.add(shifted, np.clip(shifted.astype(int) + (40 if t % 2 else 0), 0, 255).astype(np.uint8))
    assert flicker.result()["warp_error"] > 10 * max(r["warp_error"], 0.5)


def test_bad_input(fs_run, tmp_path):  # noqa: F811 (the fixture)
    from train.stylize.run import stylize

    notvideo = tmp_path / "clip.mp4"
    notvideo.write_bytes(b"this is not a video")
    res = run_cli(
        "train", "stylize", "--ckpt", str(fs_run), "--in", str(notvideo), "--out", str(tmp_path / "o.mp4")
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1 and "--in" in res.stderr
    assert not list(tmp_path.glob("o*")) and not list(tmp_path.glob(".o*"))
    import torch

    other = tmp_path / "dcgan.pt"
    torch.save({"kind": "dcgan", "options": {}}, other)
    img = _image(tmp_path / "p.png", 20, 20)
    with pytest.raises(UserError, match="a dcgan snapshot, but this command needs a fast-style one"):
        stylize(str(other), str(img), str(tmp_path / "o.png"))
    with pytest.raises(UserError, match=r"--out .*give --out one of"):
        stylize(str(fs_run), str(img), str(tmp_path / "o.mp4"))
    with pytest.raises(UserError, match=r"--in .*no such file"):
        stylize(str(fs_run), str(tmp_path / "missing.png"), str(tmp_path / "o.png"))
