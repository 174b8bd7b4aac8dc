"""The model-agnostic training engine, the DCGAN networks, the quality metrics and image grids."""

from __future__ import annotations

import random
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image

from core.errors import UserError
from train.commands import common
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


# -- run-level options, loop bookkeeping, data mode, CLI plumbing ----------------------------------------


def test_trainer_options_share_the_run_options_with_their_own_defaults():
    from train.dcgan import DCGANOptions
    from train.engine.options import RunOptions, check_run_options
    from train.pix2pix import Pix2PixOptions

    d, p = DCGANOptions(), Pix2PixOptions()
    assert isinstance(d, RunOptions) and isinstance(p, RunOptions)
    assert (d.batch, d.kimg, d.tick_kimg, d.out) == (64, 1000.0, 4.0, "runs/dcgan")
    assert (p.batch, p.kimg, p.tick_kimg, p.out) == (16, 200.0, 2.0, "runs/pix2pix")
    assert DCGANOptions.defaults()["snap_kimg"] == 50.0 and Pix2PixOptions.defaults()["snap_kimg"] == 20.0
    assert (
        Pix2PixOptions(steps=5, batch=8).total_nimg() == 40 and Pix2PixOptions(kimg=0.1).total_nimg() == 100
    )
    for kw, message in [
        ({"data": "disk"}, "--data must be one of auto, memory, stream, not 'disk'"),
        ({"batch": 0}, "--batch must be at least 1, not 0"),
        ({"lr": float("nan")}, "--lr must be a positive number"),
        ({"kimg": 0.0}, "--kimg must be positive"),
        ({"steps": 0}, "--steps must be at least 1"),
        ({"workers": -1}, "--workers must be 0 or more"),
    ]:
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            check_run_options(RunOptions(**kw))
    check_run_options(RunOptions(steps=1, kimg=0.0))  # --steps overrides --kimg


def test_memory_mode_follows_the_budget():
    from train.engine.data import memory_mode
    from train.engine.options import RunOptions

    assert memory_mode(RunOptions(data="auto"), 3 * 2**30, "cpu")  # 4 GiB by default on CPU
    assert not memory_mode(RunOptions(data="auto"), 5 * 2**30, "cpu")
    assert not memory_mode(RunOptions(data="auto", memory_budget_gb=0.5), 2**30, "cpu")
    assert memory_mode(RunOptions(data="memory", memory_budget_gb=0.5), 2**30, "cpu")
    assert not memory_mode(RunOptions(data="stream"), 1, "cpu")


def _spin(clock, steps: int, losses=(1.0,), snaps: list | None = None) -> list[dict]:
    """Drive a Clock as a trainer does; returns the tick records."""
    records = []
    while not clock.done and steps:
        batch = clock.next_batch(iter([None]))
        del batch
        loss = torch.tensor(losses[min(clock.counters["step"], len(losses) - 1)])
        clock.observe(loss)
        clock.add(torch.stack([loss, 2 * loss]))
        clock.advance()
        steps -= 1
        is_snap = clock.snap_due()
        if not (clock.tick_due() or is_snap):
            continue
        record, means = clock.tick(Path("snap.pt") if snaps else None)
        records.append({**record, "means": means, "snap": is_snap})
    return records


def test_clock_ticks_on_images_and_averages_figures():
    from train.engine.distributed import Dist
    from train.engine.loop import Clock, new_counters
    from train.engine.options import RunOptions

    o = RunOptions(batch=32, steps=12, tick_kimg=0.1, snap_kimg=0.25, progress=False)
    counters = new_counters()
    clock = Clock(o, counters, nstats=2, desc="t", d=Dist())
    records = _spin(clock, 100, losses=(1.0, 3.0))
    clock.close()
    assert [r["nimg"] for r in records] == [128, 224, 256, 320, 384]
    assert [r["nimg"] for r in records if r["snap"]] == [256, 384]  # every 0.25 kimg and at the end
    assert [r["tick"] for r in records] == [1, 2, 3, 4, 5] and counters["step"] == 12
    assert records[0]["means"] == [2.5, 5.0]  # steps 0..3: losses 1, 3, 3, 3
    assert all(r["img_per_s"] > 0 and 0 <= r["data_wait"] <= 1 and "rss_peak_gib" in r for r in records)
    summary = clock.summary(Path("out"), "fp32", records[-1])
    assert summary["steps"] == 12 and summary["kimg"] == 0.384 and summary["world_size"] == 1
    # a resumed clock continues the counters and does not re-fire the boundaries already passed
    counters = {"nimg": 256, "step": 8, "tick": 3, "time_s": 5.0}
    resumed = Clock(o, counters, nstats=2, desc="t", d=Dist())
    assert [r["nimg"] for r in _spin(resumed, 100)] == [320, 384] and counters["tick"] == 5


def test_clock_stops_on_a_non_finite_loss_naming_the_last_snapshot(monkeypatch):
    from train.engine.distributed import Dist
    from train.engine.loop import Clock, new_counters
    from train.engine.options import RunOptions

    o = RunOptions(batch=10, steps=20, tick_kimg=0.05, progress=False)
    clock = Clock(o, new_counters(), nstats=2, desc="t", d=Dist())
    with pytest.raises(
        UserError, match=r"non-finite loss at step 2 .*the last good snapshot snap.pt is kept"
    ):
        _spin(clock, 100, losses=(1.0, 1.0, float("nan"), 1.0), snaps=[True])
    assert clock.counters["nimg"] == 50  # stopped at the first tick after the bad step
    monkeypatch.setenv("TRAIN_DEBUG_NAN_STEP", "7")
    assert Clock(o, new_counters(), 1, "t", Dist()).nan_step == 7
    assert Clock(RunOptions(debug_nan_step=3), new_counters(), 1, "t", Dist()).nan_step == 3


def test_commands_share_option_declarations_and_detect_explicit_options():
    """Both commands take the run-level options from one place; a value given on the command line is
    'explicit' even when it equals the default (a resumed run checks it against its snapshot)."""
    from typer.testing import CliRunner

    seen: dict[str, object] = {}

    def main(ctx: typer.Context, keep: common.Keep = 3, seed: int = 0, resume: common.Resume = None) -> None:
        seen["explicit"] = common.explicit_options(ctx)

    app = typer.Typer()
    app.command()(main)
    res = CliRunner().invoke(app, ["--keep", "3", "--resume", "auto"])
    assert res.exit_code == 0, res.output
    assert seen["explicit"] == {"keep", "resume"}


# -- the training loop with a trainer that is not a G/D pair ----------------------------------------------


def _toy_trainer():
    """A trainer of three named networks (one an EMA), two optimisers and a per-rank noise generator,
    on synthetic batches: what the engine needs from any trainer, and nothing more."""
    import copy
    from dataclasses import dataclass

    from train.engine.options import RunOptions, option
    from train.engine.trainer import Parts, Trainer

    @dataclass
    class ToyOptions(RunOptions):
        width: int = option(4, "Hidden width.", identity=True)
        batch: int = 8

    class ToyTrainer(Trainer):
        kind, figures, guarded = "toy", ("loss", "out_mean"), 1

        def build(self) -> Parts:
            a, b = torch.nn.Linear(3, self.o.width), torch.nn.Linear(self.o.width, 1)
            return Parts(
                nets={"a": a, "b": b, "b_ema": copy.deepcopy(b)},
                opts={"opt_a": torch.optim.SGD(a.parameters(), lr=0.1), "opt_b": torch.optim.Adam(b.parameters())},
                trained=("a", "b"), ema={"b_ema": ("b", 0.01, None)},
                generators={"noise": lambda step: torch.Generator().manual_seed(1000 + step)},
            )  # fmt: skip

        def batches(self, start_step: int):
            k = start_step
            while True:
                yield torch.randn(self.per_rank, 3, generator=torch.Generator().manual_seed(k))
                k += 1

        def step(self, x, nan: bool):
            target = torch.randn(x.shape[0], 1, generator=self.nets.gen["noise"])
            out = self.nets["b"](torch.dropout(self.nets["a"](x), 0.5, train=True))  # global RNG: saved too
            loss = ((out - target) ** 2).mean() * (float("nan") if nan else 1.0)
            for opt in self.nets.opt.values():
                opt.zero_grad()
            loss.backward()
            for opt in self.nets.opt.values():
                opt.step()
            return torch.stack([loss.detach(), out.detach().mean()])

    return ToyOptions, ToyTrainer


def test_training_loop_runs_and_resumes_any_named_parts_bitwise(tmp_path: Path) -> None:
    from train.engine import training_loop

    ToyOptions, ToyTrainer = _toy_trainer()
    kw = dict(steps=10, tick_kimg=0.016, snap_kimg=0.04, workers=0, progress=False, device="cpu")
    straight = training_loop.run(ToyTrainer, ToyOptions(out=str(tmp_path / "a"), **kw))
    training_loop.run(ToyTrainer, ToyOptions(out=str(tmp_path / "b"), **{**kw, "steps": 3}))
    training_loop.run(ToyTrainer, ToyOptions(out=str(tmp_path / "b"), resume="auto", **kw))
    a, b = (load_snapshot(tmp_path / run, "toy") for run in ("a", "b"))
    assert {"a", "b", "b_ema", "opt_a", "opt_b", "noise_per_rank", "counters", "rng", "data"} <= set(a)
    for name in ("a", "b", "b_ema"):
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name
    assert torch.equal(a["noise_per_rank"][0], b["noise_per_rank"][0])
    assert not torch.equal(a["b"]["weight"], a["b_ema"]["weight"])  # the EMA is its own average
    assert straight["steps"] == 10 and (tmp_path / "a" / "_stats.json").exists()
    steps = [r["step"] for r in read_stats(tmp_path / "b" / "stats.jsonl")]
    assert steps == [2, 3, 4, 5, 6, 8, 10] and "loss" in read_stats(tmp_path / "b" / "stats.jsonl")[-1]
    with pytest.raises(UserError, match="non-finite loss at step 12"):
        training_loop.run(ToyTrainer, ToyOptions(out=str(tmp_path / "a"), resume="auto", debug_nan_step=12,
                                                 **{**kw, "steps": 14}))  # fmt: skip


def test_command_is_built_from_the_options_dataclass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each option once: name, default, help and flags come from the field; explicit detection works."""
    from typer.testing import CliRunner

    from core.cli import make_app

    ToyOptions, _ = _toy_trainer()
    seen: dict[str, object] = {}
    main = common.command(ToyOptions, "tests.test_train_engine", "Toy.")
    app = make_app("t", "t")
    app.command("toy")(main)
    app.command("other")(lambda: None)
    res = CliRunner().invoke(app, ["toy", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "Hidden width." in res.output and "[default: 4]" in res.output
    assert (
        "--compile" in res.output
        and "--no-compile" not in res.output
        and "--debug-nan-step" not in res.output
    )

    def fake_train(o, explicit):
        seen.update(o=o, explicit=explicit)

    monkeypatch.setattr(sys.modules[__name__], "train", fake_train, raising=False)  # what `command` calls
    res = CliRunner().invoke(app, ["toy", "--width", "4", "--batch", "2"])
    assert res.exit_code == 0, res.output
    assert seen["explicit"] == {"width", "batch"} and seen["o"].batch == 2 and seen["o"].out == ""
