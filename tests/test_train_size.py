"""`--size` below the shards' size: `train dcgan` and `train pix2pix` shrink each batch on load with the
area filter (on the device, after the copy, on both data paths); a size above the shards' is refused.

Real 96 px shards, a few real training steps at 32 px through the CLI and in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_cli
from tests.test_dcgan import make_face_shards
from tests.test_pix2pix import make_lineart_shards

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def faces96(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_face_shards(tmp_path_factory.mktemp("faces96"), n=48, size=96, per_shard=(32, 16))


@pytest.fixture(scope="module")
def lineart96(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lineart96")
    make_lineart_shards(folder, n_posts=8, size=96, per_shard=8)
    return folder


def _tile_size(grid: Path, n: int) -> int:
    """The side of each image in a square grid of n images with 2 px padding."""
    side = Image.open(grid).size[0]
    cols = int(np.ceil(np.sqrt(n)))
    return (side - 2) // cols - 2


def test_area_filter_shrinks_reals() -> None:
    """96 -> 32 is the mean of each 3x3 block (OpenCV's INTER_AREA), not a bilinear or nearest sample."""
    from train.dcgan import prepare_reals, shrink_uint8

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    want = cv2.resize(img.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    got = prepare_reals(x, False, torch.Generator(), False, 32)[0].permute(1, 2, 0).numpy()
    assert got.shape == (32, 32, 3)
    assert np.abs((got + 1) * 127.5 - want).max() < 1e-3
    small = shrink_uint8(x, 32)[0].permute(1, 2, 0).numpy()
    assert small.dtype == np.uint8 and np.abs(small.astype(np.float32) - want).max() <= 0.5 + 1e-4
    assert prepare_reals(x, False, torch.Generator(), False, 96).shape == (1, 3, 96, 96)


def test_dcgan_size_32_on_96px_shards(faces96: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = run_cli(
        "train", "dcgan", "--shards", str(faces96), "--out", str(out), "--size", "32", "--ngf", "8",
        "--ndf", "8", "--batch", "16", "--steps", "3", "--tick-kimg", "0.048", "--snap-kimg", "0.048",
        "--swd-n", "32", "--grid", "4", "--workers", "0", "--no-progress", "--data", "memory",
        env=ONE_THREAD,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _tile_size(out / "reals.png", 4) == 32 and _tile_size(out / "fakes_000000.048.png", 4) == 32
    from train.dcgan import load_generator

    g, opts = load_generator(out)
    assert opts["size"] == 32 and g(torch.randn(2, opts["nz"], 1, 1)).shape == (2, 3, 32, 32)
    last = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()][-1]
    assert "swd_16" in last and np.isfinite(last["swd_avg"])


def test_dcgan_size_64_streamed(faces96: Path, tmp_path: Path) -> None:
    """The streaming path shrinks too (96 -> 64: a non-integer factor)."""
    from train.dcgan import DCGANOptions, train

    o = DCGANOptions(
        shards=str(faces96), out=str(tmp_path / "run"), size=64, ngf=4, ndf=4, batch=8, steps=2, swd_n=16,
        grid=4, workers=0, progress=False, data="stream", snap_kimg=0.016,
    )  # fmt: skip
    assert train(o)["steps"] == 2
    assert _tile_size(tmp_path / "run" / "reals.png", 4) == 64


def test_dcgan_size_larger_than_shards_is_refused(faces96: Path, tmp_path: Path) -> None:
    res = run_cli(
        "train", "dcgan", "--shards", str(faces96), "--out", str(tmp_path / "run"), "--size", "128",
        "--steps", "1", "--workers", "0", "--no-progress", env=ONE_THREAD,
    )  # fmt: skip
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "--size 128 is larger than the 96x96 images" in err and "up to 96" in err
    assert not list((tmp_path / "run").glob("network-snapshot-*.pt"))


def test_pix2pix_size_32_on_96px_shards(lineart96: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = run_cli(
        "train", "pix2pix", "--shards", str(lineart96), "--out", str(out), "--size", "32", "--ngf", "4",
        "--ndf", "4", "--batch", "4", "--steps", "2", "--tick-kimg", "0.008", "--val-kimg", "0.008",
        "--val-fraction", "0.2", "--grid", "2", "--workers", "0", "--no-progress", "--data", "memory",
        env=ONE_THREAD,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    preview = cv2.imread(str(sorted(out.glob("val_*.png"))[-1]))
    assert preview.shape[:2] == (2 * 32 + 3 * 2, 4 * 32 + 5 * 2)  # rows of line | hints | output | target
    from train.pix2pix import load_colorizer

    model = load_colorizer(out)
    assert model.options["size"] == 32
    assert model.G(torch.zeros(1, 5, 32, 32), torch.zeros(1, 5)).shape == (1, 3, 32, 32)


def test_pix2pix_size_larger_than_shards_is_refused(lineart96: Path, tmp_path: Path) -> None:
    res = run_cli(
        "train", "pix2pix", "--shards", str(lineart96), "--out", str(tmp_path / "run"), "--size", "128",
        "--steps", "1", "--workers", "0", "--no-progress", env=ONE_THREAD,
    )  # fmt: skip
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "--size 128 is larger than the shards' 96x96 images" in err
