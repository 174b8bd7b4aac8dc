"""`train dcgan` and `train sample` on real face shards cut from the project's synthetic illustrations.

Runs are tiny (32 px, ngf/ndf 16, batch 32) and use one torch thread: on a shared 2-core machine,
OpenMP threads that wait on each other make small convolutions ten times slower.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import UserError
from core.shards import write_index, write_shard
from tests.conftest import ROOT, run_cli
from train.dcgan import DCGANOptions, train
from train.engine.rundir import read_stats

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TINY = dict(size=32, ngf=16, ndf=16, batch=32, workers=0, grid=16, swd_n=64, progress=False, data="memory")


def make_face_shards(
    out: Path, n: int = 300, size: int = 32, per_shard: tuple[int, ...] = (150, 100, 50)
) -> Path:
    """Crop the faces drawn in synthetic illustrations, resize them, and write uneven shards."""
    import cv2

    from crawl.synthetic import make_illustration

    out.mkdir(parents=True, exist_ok=True)
    faces: list[tuple[str, dict[str, bytes]]] = []
    pid = 0
    while len(faces) < n:
        ill = make_illustration(pid, seed=0, size=(160, 160))
        for x, y, w, h in ill.faces:
            crop = ill.image[y : y + h, x : x + w]
            if crop.size:
                img = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                faces.append((f"f{pid:05d}_{len(faces):04d}", {"png": buf.getvalue(), "json": b"{}"}))
        pid += 1
    infos, i = [], 0
    for k, count in enumerate(per_shard):
        infos.append(write_shard(out / f"faces-{k:06d}.tar", faces[i : i + count]))
        i += count
    write_index(out, infos, name="faces")
    return out


@pytest.fixture(scope="module")
def faces32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_face_shards(tmp_path_factory.mktemp("faces32"))


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread (tests/conftest.py)."""


def opts(shards: Path, out: Path, **kw: object) -> DCGANOptions:
    return DCGANOptions(shards=str(shards), out=str(out), **{**TINY, **kw})  # type: ignore[arg-type]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_cli("train", *args, env=ONE_THREAD, timeout=timeout)


# -- whole runs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_training_improves_sliced_wasserstein(faces32, tmp_path):
    out = tmp_path / "run"
    summary = train(opts(faces32, out, steps=100, tick_kimg=0.8, snap_kimg=0.8, swd_n=256))
    records = read_stats(out / "stats.jsonl")
    swd = [r["swd_avg"] for r in records if "swd_avg" in r]
    assert records[0]["tick"] == 0 and len(swd) == 5, swd  # baseline + snapshots at 0.8 .. 3.2 kimg
    assert swd[-1] < 0.8 * swd[0], f"SWD did not clearly improve: {swd}"
    assert summary["swd_avg"] == swd[-1] and summary["steps"] == 100


def test_run_directory_contents(faces32, tmp_path):
    out = tmp_path / "run"
    res = cli(
        "dcgan", "--shards", str(faces32), "--out", str(out), "--size", "32", "--ngf", "16", "--ndf", "16",
        "--batch", "32", "--steps", "12", "--tick-kimg", "0.1", "--snap-kimg", "0.25", "--swd-n", "64",
        "--grid", "16", "--workers", "0", "--no-progress", "--keep", "2",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    # non-default options are highlighted with their default; the summary is the last line
    assert "size             = 32   (default 96)" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("train dcgan: kimg=0.384 steps=12")
    options = json.loads((out / "options.json").read_text())
    assert options["size"] == 32 and options["resolved"]["device"] == "cpu"
    records = read_stats(out / "stats.jsonl")
    # ticks fire when the image counter (32 per step) crosses a 100-image boundary, not on step % n
    assert [r["nimg"] for r in records] == [0, 128, 224, 256, 320, 384]
    assert all(r["img_per_s"] > 0 and 0 <= r["data_wait"] <= 1 and r["rss_peak_gib"] > 0 for r in records[1:])
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(records[-1])
    snaps = [r for r in records if "snapshot" in r]
    assert [r["nimg"] for r in snaps] == [256, 384] and all("swd_32" in r and "swd_16" in r for r in snaps)
    assert sorted(p.name for p in out.glob("fakes_*.png")) == ["fakes_000000.256.png", "fakes_000000.384.png"]
    assert Image.open(out / "reals.png").size == (4 * 34 + 2, 4 * 34 + 2)
    assert sorted(p.name for p in out.glob("network-snapshot-*.pt")) == [
        "network-snapshot-000000.256.pt",
        "network-snapshot-000000.384.pt",
    ]
    assert json.loads((out / "latest.json").read_text())["snapshot"] == "network-snapshot-000000.384.pt"
    assert json.loads((out / "_stats.json").read_text())["steps"] == 12
    state = torch.load(out / "network-snapshot-000000.384.pt", weights_only=True)
    assert {"G", "D", "G_ema", "opt_g", "opt_d", "counters", "rng", "options", "noise_per_rank"} <= set(state)
    assert state["counters"]["step"] == 12 and state["kind"] == "dcgan"
    # a second start without --resume refuses to overwrite the run
    res = cli("dcgan", "--shards", str(faces32), "--out", str(out), "--size", "32", "--steps", "1")
    assert res.returncode == 2 and "already holds a run; pass --resume auto" in res.stderr


def _params(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    flat = {f"{net}.{k}": v for net in ("G", "D", "G_ema") for k, v in state[net].items()}
    for name in ("opt_g", "opt_d"):
        for i, s in state[name]["state"].items():
            flat.update({f"{name}.{i}.{k}": v for k, v in s.items()})
    return flat


@pytest.mark.parametrize("data", ["memory", "stream"])
def test_resume_matches_uninterrupted_run(faces32, tmp_path, data):
    common = dict(tick_kimg=0.1, snap_kimg=10, swd_n=0, data=data)
    train(opts(faces32, tmp_path / "straight", steps=16, **common))
    train(opts(faces32, tmp_path / "split", steps=8, **common))
    train(opts(faces32, tmp_path / "split", steps=16, resume="auto", **common))
    a = _params(tmp_path / "straight" / "network-snapshot-000000.512.pt")
    b = _params(tmp_path / "split" / "network-snapshot-000000.512.pt")
    assert a.keys() == b.keys() and len(a) > 30
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    # the resumed run's stats continue the interrupted ones (no duplicated or lost counters)
    steps = [r["step"] for r in read_stats(tmp_path / "split" / "stats.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 16


def test_resume_takes_identity_options_from_snapshot(faces32, tmp_path):
    out = tmp_path / "run"
    train(opts(faces32, out, steps=2, swd_n=0, ngf=8, loss="hinge", d_act="elu"))
    summary = train(opts(faces32, out, steps=4, swd_n=0, resume="auto"))  # ngf etc. come from the snapshot
    assert summary["steps"] == 4
    assert json.loads((out / "options.json").read_text())["ngf"] == 8
    with pytest.raises(UserError, match=r"--ngf 16 differs from the run being resumed \(8"):
        train(opts(faces32, out, steps=6, swd_n=0, resume="auto"), explicit={"ngf"})
    # --resume PATH continues a given snapshot into a new run directory
    snap = next(out.glob("network-snapshot-*.pt"))
    summary = train(opts(faces32, tmp_path / "other", steps=5, swd_n=0, resume=str(snap)))
    assert summary["steps"] == 5


def test_ema_generator_has_its_own_batchnorm_statistics(faces32, tmp_path):
    """G_ema's running statistics are those of its own activations, not copies of the live G's."""
    from train.models.dcgan import Generator

    out = tmp_path / "run"
    train(opts(faces32, out, steps=6, swd_n=0))
    state = torch.load(next(out.glob("network-snapshot-*.pt")), weights_only=True)
    ema, live = state["G_ema"], state["G"]
    stats = [k for k in ema if k.endswith(("running_mean", "running_var"))]
    assert len(stats) == 6 and not any(torch.equal(ema[k], live[k]) for k in stats)
    # the first BatchNorm's mean is the mean of G_ema's first layer on the fixed latents (seed + 4)
    g = Generator(32, 100, 16)
    g.load_state_dict(ema)
    z = torch.randn(1024, 100, generator=torch.Generator().manual_seed(TINY.get("seed", 0) + 4))
    with torch.no_grad():
        h = g.main[0](z[:, :, None, None])
    assert torch.allclose(ema["main.1.running_mean"], h.mean((0, 2, 3)), atol=1e-5)
    assert not torch.allclose(live["main.1.running_mean"], h.mean((0, 2, 3)), atol=1e-3)


def test_nan_loss_stops_and_keeps_last_good_snapshot(faces32, tmp_path):
    out = tmp_path / "run"
    res = cli(
        "dcgan", "--shards", str(faces32), "--out", str(out), "--size", "32", "--ngf", "16", "--ndf", "16",
        "--batch", "32", "--steps", "20", "--tick-kimg", "0.064", "--snap-kimg", "0.256", "--swd-n", "0",
        "--workers", "0", "--no-progress", "--debug-nan-step", "10",
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "non-finite loss at step 10" in err and "network-snapshot-000000.256.pt is kept" in err
    assert [p.name for p in out.glob("network-snapshot-*.pt")] == ["network-snapshot-000000.256.pt"]
    state = torch.load(out / "network-snapshot-000000.256.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    assert state["counters"]["step"] == 8


def test_options_hinge_elu_bf16_stream_and_flags(faces32, tmp_path):
    summary = train(
        opts(faces32, tmp_path / "a", steps=4, loss="hinge", d_act="elu", precision="bf16", data="stream",
             workers=0, flip=False, swd_n=32, lr=1e-4)
    )  # fmt: skip
    assert summary["precision"] == "bf16" and summary["steps"] == 4
    rec = read_stats(tmp_path / "a" / "stats.jsonl")[-1]
    assert np.isfinite(rec["loss_d"]) and np.isfinite(rec["swd_avg"])
    state = torch.load(tmp_path / "a" / "network-snapshot-000000.128.pt", weights_only=True)
    assert isinstance(state["G"]["main.0.weight"], torch.Tensor)
    assert state["options"]["loss"] == "hinge" and state["options"]["d_act"] == "elu"
    # --kimg counts images, rounded up to whole batches
    summary = train(opts(faces32, tmp_path / "b", kimg=0.1, swd_n=0))
    assert summary["steps"] == 4 and summary["kimg"] == 0.128


@pytest.mark.slow
def test_compile_flag_trains(faces32, tmp_path):
    if not shutil.which("gcc") and not shutil.which("cc"):
        pytest.skip("torch.compile on CPU needs a C compiler")
    summary = train(opts(faces32, tmp_path / "c", steps=2, swd_n=0, compile=True))
    assert summary["steps"] == 2
    state = torch.load(tmp_path / "c" / "network-snapshot-000000.064.pt", weights_only=True)
    assert "main.0.weight" in state["G"]  # plain state dict keys, not `_orig_mod.` ones


# -- bad input -------------------------------------------------------------------------------------


def test_bad_shards_and_options(faces32, tmp_path):
    base = ["--out", str(tmp_path / "run"), "--size", "32", "--steps", "1", "--workers", "0", "--no-progress"]
    res = cli("dcgan", "--shards", str(tmp_path / "missing"), *base)
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "empty").mkdir()
    res = cli("dcgan", "--shards", str(tmp_path / "empty"), *base)
    assert res.returncode == 2 and "holds no shards" in res.stderr
    nopng = tmp_path / "nopng"
    nopng.mkdir()
    write_index(nopng, [write_shard(nopng / "x-000000.tar", [("a", {"json": b"{}"})])], name="x")
    res = cli("dcgan", "--shards", str(nopng), *base)
    assert res.returncode == 2 and "lack field(s) png" in res.stderr
    res = cli("dcgan", "--shards", str(faces32), *base[:2], "--size", "96", "--steps", "1")
    assert res.returncode == 2 and "--size 96 is larger than the 32x32 images" in res.stderr
    res = cli("dcgan", "--shards", str(faces32), *base[:2], "--size", "48")
    assert res.returncode == 2 and "--size must be one of 32, 64, 96, 128" in res.stderr
    res = cli("dcgan", "--shards", str(faces32), *base, "--loss", "wgan")
    assert res.returncode == 2 and "--loss must be one of bce, hinge" in res.stderr
    res = cli("dcgan", "--shards", str(faces32), *base, "--device", "cuda")
    if not torch.cuda.is_available():
        assert res.returncode == 2 and "--device cuda" in res.stderr
    assert not list((tmp_path / "run").glob("network-snapshot-*.pt"))


# -- sampling --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(faces32, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample-run")
    torch.set_num_threads(1)
    train(opts(faces32, out, steps=3, swd_n=0))
    return next(out.glob("network-snapshot-*.pt"))


def test_sample_grid_and_interpolation(snapshot, tmp_path):
    res = cli(
        "sample", "--ckpt", str(snapshot.parent), "--n", "9", "--out", str(tmp_path / "g.png"), "--seed", "3"
    )
    assert res.returncode == 0, res.stderr
    a = np.asarray(Image.open(tmp_path / "g.png"))
    assert a.shape == (3 * 34 + 2, 3 * 34 + 2, 3)
    res = cli("sample", "--ckpt", str(snapshot), "--n", "9", "--out", str(tmp_path / "h.png"), "--seed", "3")
    assert res.returncode == 0 and np.array_equal(a, np.asarray(Image.open(tmp_path / "h.png")))
    res = cli("sample", "--ckpt", str(snapshot), "--n", "16", "--out", str(tmp_path / "i.png"), "--interpolate",
              "--frames", "8")  # fmt: skip
    assert res.returncode == 0, res.stderr
    strip = np.asarray(Image.open(tmp_path / "i.png")).astype(int)
    assert strip.shape == (2 * 34 + 2, 8 * 34 + 2, 3)
    tiles = [strip[2:34, 2 + 34 * c : 34 + 34 * c] for c in range(8)]
    steps = [np.abs(tiles[c + 1] - tiles[c]).mean() for c in range(7)]
    # neighbours along a strip differ less than its two ends: a path, not independent samples
    assert max(steps) < np.abs(tiles[7] - tiles[0]).mean()


def test_slerp_endpoints():
    from train.sample import slerp

    a, b = torch.randn(3, 100), torch.randn(3, 100)
    z = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(z[:, 0], a, atol=1e-5) and torch.allclose(z[:, -1], b, atol=1e-5)


def test_sample_rejects_foreign_checkpoints(snapshot, tmp_path):
    other = tmp_path / "pix2pix.pt"
    torch.save({"kind": "pix2pix", "options": {}}, other)
    res = cli("sample", "--ckpt", str(other), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "a pix2pix snapshot, but this command needs a dcgan one" in res.stderr
    plain = tmp_path / "weights.pt"
    torch.save({"main.0.weight": torch.zeros(1)}, plain)
    res = cli("sample", "--ckpt", str(plain), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "not a training snapshot" in res.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    res = cli("sample", "--ckpt", str(junk), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "not a readable training snapshot" in res.stderr
    # a snapshot whose weights do not fit its recorded size
    state = torch.load(snapshot, weights_only=True)
    state["options"]["size"] = 64
    torch.save(state, tmp_path / "resized.pt")
    res = cli("sample", "--ckpt", str(tmp_path / "resized.pt"), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "do not fit a size-64 DCGAN" in res.stderr
    assert not (tmp_path / "x.png").exists()


# -- multi-process ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ddp_two_processes_uneven_shards(faces32, tmp_path):
    """torchrun with 2 CPU processes (gloo), 3 uneven shards streamed by 1 worker each."""
    out = tmp_path / "ddp"
    cmd = [
        str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "train",
        "dcgan", "--shards", str(faces32), "--out", str(out), "--size", "32", "--ngf", "8", "--ndf", "8",
        "--batch", "32", "--steps", "12", "--tick-kimg", "0.128", "--snap-kimg", "0.192", "--swd-n", "32",
        "--grid", "4", "--data", "stream", "--workers", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, **ONE_THREAD}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("train dcgan: kimg=0.384 steps=12") == 1  # rank 0 alone reports
    records = read_stats(out / "stats.jsonl")
    assert [r["nimg"] for r in records] == [0, 128, 192, 256, 384]  # one line per tick: rank 0 alone writes
    assert json.loads((out / "options.json").read_text())["resolved"]["world_size"] == 2
    state = torch.load(out / "network-snapshot-000000.384.pt", weights_only=True)
    assert len(state["noise_per_rank"]) == 2 and state["counters"]["nimg"] == 384
    assert not list(out.glob(".*.tmp"))
