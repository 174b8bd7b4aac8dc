"""The model-agnostic training engine, the DCGAN networks, the quality metrics and image grids."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from prep.errors import UserError
from train.engine import rng
from train.engine.ema import ema_beta, update_ema
from train.engine.guard import NonFiniteGuard
from train.engine.rundir import RunDir, load_snapshot, read_stats
from train.engine.schedule import Every, kimg_label
from train.grid import make_grid, save_grid
from train.metrics import (
    InceptionFeatures,
    SlicedWasserstein,
    fid_from_features,
    fid_kid,
    kid_from_features,
    laplacian_pyramid,
)
from train.models.dcgan import Discriminator, Generator, build

# -- schedule --------------------------------------------------------------------------------------


def test_every_fires_on_image_boundaries_not_step_counts():
    every = Every(0.1)  # 100 images; the counter jumps by a batch of 64
    fired = [n for n in range(64, 64 * 20, 64) if every.due(n)]
    assert fired == [128, 256, 320, 448, 512, 640, 704, 832, 960, 1024, 1152, 1216]
    resumed = Every(0.1, cur_nimg=640)  # a resumed run does not re-fire the boundary it passed
    assert not resumed.due(640) and resumed.due(704)
    assert not Every(0).due(10**9)
    assert kimg_label(1_234_560) == "001234.560"


# -- EMA -------------------------------------------------------------------------------------------


def test_ema_half_life_and_update():
    assert ema_beta(64, 10**9, ema_kimg=10, rampup=None) == pytest.approx(0.5 ** (64 / 10_000))
    # early in training the half-life is capped at rampup * images seen
    assert ema_beta(64, 1280, ema_kimg=10, rampup=0.05) == pytest.approx(0.5 ** (64 / 64))
    a, b = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        a.weight.fill_(0.0)
        b.weight.fill_(1.0)
        b.running_mean.fill_(5.0)
    update_ema(a, b, beta=0.75)
    assert torch.allclose(a.weight, torch.full((3,), 0.25)) and torch.equal(a.running_mean, b.running_mean)


# -- guard and RNG ---------------------------------------------------------------------------------


def test_guard_remembers_first_bad_step():
    g = NonFiniteGuard("cpu")
    g.observe(0, torch.tensor(1.0))
    assert g.bad_step() is None
    g.observe(5, torch.tensor(1.0), torch.tensor(float("inf")))
    g.observe(6, torch.tensor(float("nan")))
    assert g.bad_step() == 5


def test_rng_states_round_trip_through_weights_only_load(tmp_path):
    gen = torch.Generator().manual_seed(3)
    random.seed(1)
    torch.manual_seed(2)
    state = rng.capture({"noise": gen})
    torch.save(state, tmp_path / "s.pt")
    expected = (torch.rand(3), random.random(), torch.rand(2, generator=gen))
    rng.restore(torch.load(tmp_path / "s.pt", weights_only=True), {"noise": gen})
    got = (torch.rand(3), random.random(), torch.rand(2, generator=gen))
    assert torch.equal(got[0], expected[0]) and got[1] == expected[1] and torch.equal(got[2], expected[2])


# -- run directory ---------------------------------------------------------------------------------


def test_rundir_snapshots_pointer_pruning_and_stats(tmp_path):
    run = RunDir(tmp_path / "run")
    (run.path / ".network-snapshot-x.pt.abc.tmp").write_bytes(b"half")  # a killed writer's leftover
    run = RunDir(tmp_path / "run")
    assert not list(run.path.glob("*.tmp"))
    for nimg in (1000, 2000, 3000):
        run.save_snapshot({"kind": "toy", "w": torch.full((2,), float(nimg))}, nimg, keep=2)
        run.append_stats({"nimg": nimg, "x": 1})
    assert sorted(p.name for p in run.path.glob("network-snapshot-*.pt")) == [
        "network-snapshot-000002.000.pt",
        "network-snapshot-000003.000.pt",
    ]
    assert run.latest_snapshot() == run.path / "network-snapshot-000003.000.pt"
    assert load_snapshot(run.path, "toy")["w"][0] == 3000.0
    with pytest.raises(UserError, match="a toy snapshot, but this command needs a dcgan one"):
        load_snapshot(run.path, "dcgan")
    (run.path / "latest.json").write_text("{broken")
    assert run.latest_snapshot() == run.path / "network-snapshot-000003.000.pt"
    with open(run.path / "stats.jsonl", "a") as f:
        f.write('{"nimg": 4000, "tor')  # torn last line
    assert [r["nimg"] for r in read_stats(run.path / "stats.jsonl")] == [1000, 2000, 3000]
    run.truncate_stats(2000)
    assert [r["nimg"] for r in read_stats(run.path / "stats.jsonl")] == [1000, 2000]
    other = RunDir(tmp_path / "other", is_main=False)  # non-zero ranks never write
    other.append_stats({"a": 1})
    assert other.save_snapshot({"kind": "toy"}, 1) is None and not other.path.exists()


def test_load_snapshot_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"kind": "dcgan", "obj": Fraction(1, 3)}, path)  # any non-tensor class instance
    with pytest.raises(UserError, match="not a readable training snapshot"):
        load_snapshot(path, "dcgan")
    with pytest.raises(UserError, match="no such checkpoint"):
        load_snapshot(tmp_path / "nope.pt", "dcgan")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(UserError, match="no network-snapshot"):
        load_snapshot(tmp_path / "empty_run", "dcgan")


# -- DCGAN networks --------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "layers"), [(32, 4), (64, 5), (96, 5), (128, 5)])
def test_dcgan_topology_follows_size(size, layers):
    g, d = build(size, nz=100, ngf=8, ndf=8, act="lrelu")
    x = g(torch.randn(2, 100))
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert d(x).shape == (2,)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == layers
    assert isinstance(d.main[1], torch.nn.LeakyReLU)  # no normalisation on D's first layer
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in d.modules())
    w = convs[1].weight
    assert abs(float(w.mean())) < 0.005 and abs(float(w.std()) - 0.02) < 0.003


def test_dcgan_96_matches_original_topology():
    g = Generator(96, nz=100, ngf=64)
    chans = [m.out_channels for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert chans == [512, 256, 128, 64, 3]
    assert g.main[0].kernel_size == (6, 6)  # z -> 6x6x512
    d = Discriminator(96, ndf=64, act="elu")
    assert any(isinstance(m, torch.nn.ELU) for m in d.modules())
    with pytest.raises(ValueError, match="size must be one of"):
        Generator(80)


# -- metrics ---------------------------------------------------------------------------------------


def _blobs(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Smooth random colour blobs: a stand-in for faces with a recognisable statistic."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, 4, 4, generator=g)
    return (torch.nn.functional.interpolate(small, size=size, mode="bilinear") * 255).to(torch.uint8)


def test_sliced_wasserstein_separates_distributions():
    reals = _blobs(128, 0)
    swd = SlicedWasserstein(reals, per_image=32)
    same = swd(_blobs(128, 1))
    noise = swd((torch.rand(128, 3, 32, 32) * 255).to(torch.uint8))
    assert set(same) == {"swd_32", "swd_16", "swd_avg"}
    assert same["swd_avg"] * 3 < noise["swd_avg"], (same, noise)
    assert swd(_blobs(128, 1)) == same  # deterministic
    assert [lvl.shape[-1] for lvl in laplacian_pyramid(torch.rand(1, 3, 96, 96))] == [96, 48, 24]
    with pytest.raises(ValueError, match="needs 128 fakes"):
        swd(reals[:5])


class _TinyFeatures(torch.nn.Module):
    def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x / 255.0, 4)
        return pooled.flatten(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit.*")
def test_fid_kid_formulas_and_torchscript_extractor(tmp_path):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 3, generator=g, dtype=torch.float64) * 2 + 1
    # Gaussians N(0, I) and N(1, 4I) in 3-d: FID = 3*1 + 3*(1 + 4 - 2*2) = 6
    assert fid_from_features(a, b) == pytest.approx(6.0, rel=0.1)
    assert abs(fid_from_features(a, a)) < 1e-6
    assert abs(kid_from_features(a, a[torch.randperm(4000, generator=g)], subsets=5)) < 0.05
    assert kid_from_features(a, b, subsets=5) > 1
    path = tmp_path / "feat.pt"
    torch.jit.script(_TinyFeatures()).save(str(path))
    model = InceptionFeatures(path)
    r = fid_kid(model, _blobs(64, 0), _blobs(64, 1))
    n = fid_kid(model, _blobs(64, 0), (torch.rand(64, 3, 32, 32) * 255).to(torch.uint8))
    assert r["fid"] < n["fid"] and r["kid"] < n["kid"]
    with pytest.raises(UserError, match="--inception"):
        InceptionFeatures(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(UserError, match="not a TorchScript module"):
        InceptionFeatures(tmp_path / "bad.pt")


# -- grids -----------------------------------------------------------------------------------------


def test_grid_layout_and_png(tmp_path):
    imgs = torch.zeros(5, 3, 8, 8)
    imgs[1] = 1.0  # white (generator range [-1, 1])
    grid = make_grid(imgs, nrow=3, pad=2)
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3) and grid.dtype == torch.uint8
    assert int(grid[2, 12, 0]) == 255 and int(grid[2, 2, 0]) == 128 and int(grid[0, 0, 0]) == 0
    save_grid(imgs, tmp_path / "g.png", nrow=3)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")), grid.numpy())
