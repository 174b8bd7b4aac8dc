"""`train fast-style` on CPU at tiny sizes with a random VGG-19: exact resume, the flow-free stability
loss, bad input. The helpers at the top also serve tests/test_stylize.py."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from tests.conftest import run_cli


def make_content(folder: Path, n: int = 10, seed: int = 0) -> Path:
    """Content shards as `prep images` writes them (`<key>.png` or `.jpg` + `<key>.json`), in
    several shapes."""
    from core.shards import write_index, write_shard

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        h, w = 20 + int(rng.integers(0, 12)), 20 + int(rng.integers(0, 20))
        small = (rng.random((max(2, h // 4), max(2, w // 4), 3)) * 255).astype(np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        ext = "jpg" if i % 3 == 0 else "png"
        ok, buf = cv2.imencode(f".{ext}", img)
        assert ok
        meta = {"width": w, "height": h, "scale": 1.0, "source_path": f"{i}.{ext}"}
        samples.append((f"img_{i:016x}", {ext: buf.tobytes(), "json": json.dumps(meta).encode()}))
    folder.mkdir(parents=True, exist_ok=True)
    write_index(folder, [write_shard(folder / "content-000000.tar", samples)], "content")
    return folder


def make_vgg(path: Path) -> Path:
    """A randomly initialised VGG-19 state dict (torchvision's layout and initialisation)."""
    import torch

    from train.models.vgg import random_vgg19

    torch.save(random_vgg19(0).state_dict(), path)
    return path


def make_style(path: Path) -> Path:
    rng = np.random.default_rng(1)
    blocks = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.resize(blocks, (48, 48), interpolation=cv2.INTER_NEAREST))
    return path


def make_clip(path: Path, frames: int = 20, fps: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """A clip with moving content: a textured background panning right and a moving disc."""
    w, h = size
    rng = np.random.default_rng(2)
    bg = cv2.resize(
        (rng.random((12, 16, 3)) * 255).astype(np.uint8), (w + 40, h + 20), interpolation=cv2.INTER_CUBIC
    )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for t in range(frames):
        f = np.ascontiguousarray(bg[10 : 10 + h, t : t + w])
        cv2.circle(f, (8 + 2 * t, h // 2), 5, (255, 255, 255), -1)
        writer.write(f)
    writer.release()
    return path


@pytest.fixture(scope="session")
def fs_inputs(tmp_path_factory) -> dict[str, Path]:
    """Content shards, a random VGG-19 (.pth), a style image: built once per session."""
    root = tmp_path_factory.mktemp("fast-style-inputs")
    return {
        "content": make_content(root / "content"),
        "vgg": make_vgg(root / "vgg19-random.pth"),
        "style": make_style(root / "style.png"),
    }


def fs_options(inputs: dict[str, Path], out: Path, **kw):
    from train.commands.fast_style import FastStyleOptions

    base = dict(
        shards=str(inputs["content"]), style=str(inputs["style"]), vgg_weights=str(inputs["vgg"]),
        out=str(out), size=16, batch=2, width=4, blocks=1, workers=0, progress=False, holdout=2,
        style_layers="relu1_1,relu2_1,relu3_1", tick_kimg=0.002, snap_kimg=0.004, ema_kimg=0.01,
    )  # fmt: skip
    base.update(kw)
    return FastStyleOptions(**base)


@pytest.fixture(scope="session")
def fs_run(fs_inputs, tmp_path_factory) -> Path:
    """A finished 2-step run (with the stability loss) whose snapshot `train stylize` can use."""
    import torch

    from train.fast_style.trainer import train

    out = tmp_path_factory.mktemp("fast-style-run") / "run"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(fs_options(fs_inputs, out, steps=2, temporal_weight=1e5))
    finally:
        torch.set_num_threads(n)
    return out


def _snapshot(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_matches_uninterrupted_run(fs_inputs, tmp_path, one_torch_thread):
    from train.engine.rundir import read_stats
    from train.fast_style.trainer import train

    common = dict(temporal_weight=1e5)
    train(fs_options(fs_inputs, tmp_path / "whole", steps=4, **common))
    train(fs_options(fs_inputs, tmp_path / "split", steps=2, **common))
    train(fs_options(fs_inputs, tmp_path / "split", steps=4, resume="auto", **common))
    a = _snapshot(tmp_path / "whole" / "network-snapshot-000000.008.pt")
    b = _snapshot(tmp_path / "split" / "network-snapshot-000000.008.pt")
    import torch

    for net in ("T", "T_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"
    assert a["counters"]["step"] == b["counters"]["step"] == 4
    assert a["net"] == {"width": 4, "blocks": 1, "antialias": True} and a["kind"] == "fast-style"
    sa, sb = read_stats(tmp_path / "whole" / "stats.jsonl"), read_stats(tmp_path / "split" / "stats.jsonl")
    assert [r["nimg"] for r in sa] == [r["nimg"] for r in sb]
    assert [round(r["loss"], 3) for r in sa if "loss" in r] == [
        round(r["loss"], 3) for r in sb if "loss" in r
    ]
    # the stability loss ran and the held-out figures and grids were written
    assert all(r["temporal"] > 0 for r in sa if "temporal" in r)
    assert "val_temporal" in sa[-1] and "val_style" in sa[-1]
    run = tmp_path / "whole"
    grid = cv2.imread(str(run / "samples_000000.008.png"))
    assert grid is not None and grid.shape[0] > 16 * 2  # content row above the stylised row
    assert (run / "content.png").exists() and (run / "style.png").exists()
    opts = json.loads((run / "options.json").read_text())
    assert opts["resolved"]["vgg_preprocess"] == "torchvision" and opts["resolved"]["heldout_images"] == 2


def test_temporal_loss_is_zero_for_a_network_that_commutes_with_motion():
    """The stability loss measures exactly what the motion does not explain: the identity network
    (which commutes with any warp) scores about the noise alone, a pixel-shuffling one scores more."""
    import torch

    from train.fast_style import losses as L

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    x2, grid, mask = L.motion(x, max_shift=3.0, noise=0.0, gen=gen)
    assert mask.mean() > 0.5
    ident = L.temporal_loss(x2, x, grid, mask)
    flipped = L.temporal_loss(x2.flip(3), x.flip(3), grid, mask)
    assert float(ident) < 1e-6 < float(flipped)


def test_antialiased_network_follows_a_one_pixel_shift_and_old_snapshots_stay_strided():
    """A 1 px shift of the input moves the anti-aliased network's output with it (about 3x closer
    than the strided network's, at the same random weights' seeds); a config without the key (a
    snapshot from before --antialias) builds the strided network with its original weight names."""
    import torch
    import torch.nn.functional as F

    from train.models.transformer import TransformerNet

    torch.manual_seed(0)
    x = F.interpolate(torch.rand(1, 3, 16, 16), size=(72, 72), mode="bilinear")  # smooth content
    mismatch = {}
    for aa in (False, True):
        d = []
        for seed in range(3):
            torch.manual_seed(seed)
            net = TransformerNet(8, 1, antialias=aa).eval()
            with torch.no_grad():
                a, b = net(x[..., 4:68, 4:68]), net(x[..., 4:68, 5:69])  # b: the frame 1 px to the right
            d.append(float((a[..., 8:-8, 9:-8] - b[..., 8:-8, 8:-9]).abs().mean()))
        mismatch[aa] = sum(d) / len(d)
    assert mismatch[True] * 2 < mismatch[False], mismatch
    old = TransformerNet.from_config({"width": 4, "blocks": 1})
    assert not old.antialias and "down.1.conv.weight" in old.state_dict()
    assert TransformerNet.from_config(TransformerNet(4, 1).config()).antialias


def test_bad_input(fs_inputs, tmp_path):
    from train.fast_style.trainer import train

    bad = tmp_path / "style.png"
    bad.write_bytes(b"not an image at all, just text")
    with pytest.raises(UserError, match=r"--style .*not a usable image"):
        train(fs_options(fs_inputs, tmp_path / "a", steps=1, style=str(bad)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"--shards .*no content images"):
        train(fs_options(fs_inputs, tmp_path / "b", steps=1, shards=str(empty)))
    with pytest.raises(UserError, match=r"--style-layers: unknown VGG-19 layer 'relu9_9'"):
        train(fs_options(fs_inputs, tmp_path / "c", steps=1, style_layers="relu1_1,relu9_9"))
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").glob("*.pt"))


def test_cli_bad_style_is_one_line(fs_inputs, tmp_path):
    bad = tmp_path / "style.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # a JPEG header and nothing else
    res = run_cli(
        "train", "fast-style", "--shards", str(fs_inputs["content"]), "--style", str(bad),
        "--vgg-weights", str(fs_inputs["vgg"]), "--out", str(tmp_path / "run"), "--steps", "1",
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--style" in lines[0] and "Traceback" not in res.stderr
