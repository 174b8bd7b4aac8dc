"""The default `--tags-mode` steers colour within a small budget; the seed's one-plane layout stays available."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.test_pix2pix import face_pair, hair_region, make_lineart_shards


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread (tests/conftest.py)."""


def test_default_tag_mode_steers_the_hair_colour(tmp_path: Path) -> None:
    """The red_hair vs blue_hair setup (32 px, 150 steps) trained with the DEFAULT tag mode: the same
    line art comes out red-haired with red_hair and blue-haired with blue_hair."""
    from train.colorize import colorize_array
    from train.commands.pix2pix import Pix2PixOptions
    from train.pix2pix import load_colorizer, train

    default = next(f.default for f in dataclasses.fields(Pix2PixOptions) if f.name == "tags_mode")
    make_lineart_shards(tmp_path / "lineart", n_posts=40, size=32)
    o = Pix2PixOptions(
        shards=str(tmp_path / "lineart"), out=str(tmp_path / "run"), size=32, ngf=16, ndf=16, batch=16,
        steps=150, lr=5e-4, tick_kimg=0.8, val_kimg=100.0, snap_kimg=100.0, val_fraction=0.0, workers=0,
        progress=False, data="memory",
    )  # fmt: skip
    assert o.tags_mode == default
    train(o)
    model = load_colorizer(tmp_path / "run")
    assert model.options["tags_mode"] == default
    for pid in (1001, 1017):
        _, line = face_pair(pid, "red_hair", 32)
        hair = hair_region(pid, 32)
        red = colorize_array(model, line, model.vocab.vector(["1girl", "smile", "solo", "red_hair"]))[hair]
        blue = colorize_array(model, line, model.vocab.vector(["1girl", "smile", "solo", "blue_hair"]))[hair]
        red, blue = red.mean(0), blue.mean(0)
        assert red[0] - blue[0] > 40 and blue[2] - red[2] > 40, (default, red, blue)


def test_the_seed_plane_layout_is_kept() -> None:
    """`--tags-mode plane` is still the published one-extra-plane layout (tags row-major in one channel)."""
    import torch

    from train.conditioning import TAG_MODES, build_condition, condition_channels

    assert "plane" in TAG_MODES and condition_channels("plane") == 6
    tags = torch.tensor([[0.0, 1, 1]])
    line, rgb, mask = torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2)
    cond = build_condition(line, rgb, mask, tags, "plane")
    assert cond[0, 5].flatten().tolist() == [0.0, 1.0, 1.0, 0.0]
