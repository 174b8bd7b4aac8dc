"""DCGAN training: options, the per-step update, and the run loop built on `train.engine`.

One step (pytorch/examples dcgan): D sees a real batch and a fake batch (two backward passes, so
that DDP sees one forward per backward), then G is updated through D with D's weights frozen.
Everything that decides the numbers (data batch k, noise and flips from a saved generator) is a
function of the counters and saved RNG states, so a resumed run continues the uninterrupted one.

What "exact resume" means:
- `--data memory`: batch k is a pure function of (seed, k, rank), so on the same device and thread
  count the resumed run is bitwise the uninterrupted one (tests/test_dcgan.py checks it on CPU).
- `--data stream`: the loader restarts at batch `step` of the same resampled stream; bitwise too
  when --workers and the number of processes are unchanged (tested with --workers 0).
- Changing the number of processes or workers keeps weights, optimisers, EMA and counters but
  changes the data order and noise from then on. On GPUs, cuDNN's algorithm choice makes runs
  close rather than bitwise equal, resumed or not.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core.errors import UserError
from core.stats import summary_line, write_stats
from train.engine import data as engine_data
from train.engine import device as dev
from train.engine import distributed, rng, session
from train.engine.ema import ema_beta, update_ema
from train.engine.loop import Clock, new_counters, tick_line
from train.engine.options import RUN_IDENTITY, RunOptions, check_run_options
from train.engine.rundir import RunDir, load_snapshot
from train.engine.schedule import kimg_label
from train.grid import save_grid
from train.metrics import InceptionFeatures, SlicedWasserstein, fid_kid
from train.models.dcgan import SIZES, Discriminator, Generator, build

KIND = "dcgan"
LOSSES = ("bce", "hinge")
D_ACTS = ("lrelu", "elu")
TICK_FIGURES = ("loss_d", "loss_g", "d_real", "d_fake", "logit_real", "logit_fake")
"""Per-step figures averaged over each tick: losses, D(x), D(G(z)), and D's logits on both."""


@dataclass
class DCGANOptions(RunOptions):
    """Every option of `train dcgan` (the CLI fills these; defaults live here only).

    The run-level options (batch, kimg, steps, intervals, data, device, resume, ...) and their
    defaults come from `RunOptions`; the DCGAN's own defaults follow."""

    shards: str = "data/faces"
    out: str = "runs/dcgan"
    size: int = 96
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    loss: str = "bce"
    d_act: str = "lrelu"
    flip: bool = True
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    grid: int = 64
    swd_n: int = 1024
    inception: str | None = None
    fid_n: int = 5000


IDENTITY = ("size", "nz", "ngf", "ndf", "loss", "d_act", "flip", "ema_kimg", "ema_rampup", *RUN_IDENTITY)
"""Options that define the run: a resumed run takes them from its snapshot."""


def check_options(o: DCGANOptions) -> None:
    """UserError for values no run can use (named after the CLI option)."""
    if o.size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(map(str, sorted(SIZES)))}, not {o.size}")
    if o.loss not in LOSSES:
        raise UserError(f"--loss must be one of {', '.join(LOSSES)}, not {o.loss!r}")
    if o.d_act not in D_ACTS:
        raise UserError(f"--d-act must be one of {', '.join(D_ACTS)}, not {o.d_act!r}")
    for name in ("nz", "ngf", "ndf", "grid"):
        if getattr(o, name) < 1:
            raise UserError(f"--{name} must be at least 1, not {getattr(o, name)}")
    check_run_options(o)


# -- losses ----------------------------------------------------------------------------------------


def d_losses(kind: str, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss on reals, loss on fakes) for D, from logits."""
    real, fake = real.float(), fake.float()
    if kind == "hinge":
        return F.relu(1 - real).mean(), F.relu(1 + fake).mean()
    return (
        F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
        F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)),
    )


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating loss for G from D's logits on fakes."""
    fake = fake.float()
    if kind == "hinge":
        return -fake.mean()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


# -- one training step -------------------------------------------------------------------------------


@dataclass
class Nets:
    G: Any  # the generator as trained (maybe DDP/compiled)
    D: Any  # the discriminator as trained in its own step (maybe DDP/compiled)
    D_frozen: Any  # the discriminator used inside G's step (never DDP: its grads are not needed)
    G_raw: Generator
    D_raw: Discriminator
    G_ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def prepare_reals(x: torch.Tensor, flip: bool, gen: torch.Generator, channels_last: bool) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float in [-1, 1], each image flipped left-right with probability 1/2."""
    x = x.float().div_(127.5).sub_(1.0)
    if flip:
        mask = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def train_step(
    nets: Nets,
    reals: torch.Tensor,
    o: DCGANOptions,
    gen: torch.Generator,
    device: str,
    precision: str,
    nan: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One D update and one G update; returns (loss_d, loss_g, stats[4]) as device tensors."""
    z = torch.randn(reals.shape[0], o.nz, 1, 1, generator=gen, device=gen.device).to(device)
    with dev.autocast(device, precision):
        fake = nets.G(z)
    # D: reals and fakes in separate forward/backward passes (BatchNorm sees unmixed batches)
    nets.opt_d.zero_grad(set_to_none=True)
    with dev.autocast(device, precision):
        logit_real = nets.D(reals)
    loss_real, _ = d_losses(o.loss, logit_real, logit_real[:0])
    if nan:
        loss_real = loss_real * float("nan")
    loss_real.backward()
    with dev.autocast(device, precision):
        logit_fake = nets.D(fake.detach())
    _, loss_fake = d_losses(o.loss, logit_fake[:0], logit_fake)
    loss_fake.backward()
    nets.opt_d.step()
    # G: through a frozen D (no weight gradients for D)
    nets.opt_g.zero_grad(set_to_none=True)
    nets.D_raw.requires_grad_(False)
    with dev.autocast(device, precision):
        logit_g = nets.D_frozen(fake)
    loss_g = g_loss(o.loss, logit_g)
    if nan:
        loss_g = loss_g * float("nan")
    loss_g.backward()
    nets.D_raw.requires_grad_(True)
    nets.opt_g.step()
    with torch.no_grad():
        lr_, lf = logit_real.float(), logit_fake.float()
        stats = torch.stack([torch.sigmoid(lr_).mean(), torch.sigmoid(lf).mean(), lr_.mean(), lf.mean()])
    return (loss_real + loss_fake).detach(), loss_g.detach(), stats


# -- set-up helpers --------------------------------------------------------------------------------


def load_data(
    o: DCGANOptions, src: Any, device: str, per_rank: int, d: distributed.Dist, start_step: int
) -> tuple[Any, Any]:
    """(batch iterator, in-memory data or None) for --data auto|memory|stream."""
    h, w = src.image_size
    fields = ("png",)
    if engine_data.memory_mode(o, src.num_samples * 3 * h * w, device):
        data = engine_data.load_memory(o, src, device, d, fields)
        return engine_data.memory_batches(o, data, per_rank, d, start_step, fields), data
    return engine_data.stream_batches(o, src, per_rank, d, start_step, fields), None


def reference_reals(src: Any, data: dict[str, Any] | None, n: int, seed: int) -> torch.Tensor:
    """A fixed random subset of n real images (uint8, CPU) for grids and SWD."""
    n = min(n, src.num_samples)
    gen = torch.Generator().manual_seed(seed + 7)
    if data is not None:
        idx = torch.randperm(src.num_samples, generator=gen)[:n].to(data["png"].device)
        return data["png"].index_select(0, idx).cpu()
    import numpy as np

    from core.shards import iter_samples
    from train.data.decode import decode_image

    wanted = set(torch.randperm(src.num_samples, generator=gen)[:n].tolist())
    out, i = [], 0
    for shard in src.shards:
        for key, files in iter_samples(shard):
            if i in wanted:
                out.append(decode_image(files["png"], channels=3, where=f"{shard}:{key}.png"))
            i += 1
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def generate(g: Generator, z: torch.Tensor, device: str, precision: str, batch: int = 256) -> torch.Tensor:
    """uint8 images [N, 3, H, W] on the CPU from latents z [N, nz]."""
    from train.grid import to_uint8

    out = []
    for i in range(0, z.shape[0], batch):
        with dev.autocast(device, precision):
            out.append(to_uint8(g(z[i : i + batch].to(device)).float()))
    return torch.cat(out)


def snapshot_state(
    nets: Nets, o: DCGANOptions, counters: dict[str, Any], noise: list[torch.Tensor]
) -> dict[str, Any]:
    """The full training state: G, D, their optimisers, the EMA generator and every RNG state."""
    state = session.pair_snapshot(KIND, o, nets, counters)
    return {**state, "G_ema": session.cpu_state(nets.G_ema.state_dict()), "noise_per_rank": noise}


def load_generator(
    path: str | Path, device: str = "cpu", ema: bool = True
) -> tuple[Generator, dict[str, Any]]:
    """The (EMA) generator of a DCGAN snapshot, in eval mode, and the run's options."""
    state = load_snapshot(path, KIND)
    opts = state["options"]
    g = Generator(opts["size"], opts["nz"], opts["ngf"])
    try:
        g.load_state_dict(state["G_ema" if ema else "G"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path}: the generator weights do not fit a size-{opts['size']} DCGAN ({e})") from e
    return g.to(device).eval(), opts


# -- the run ---------------------------------------------------------------------------------------


def train(o: DCGANOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a DCGAN training run; returns the final summary (also in `<out>/_stats.json`)."""
    return session.run_training(o, explicit, check_options, _train)


def _train(o: DCGANOptions, explicit: set[str], d: distributed.Dist) -> dict[str, Any]:
    from train.loader import open_shards

    device = d.device
    precision = dev.resolve_precision(o.precision, device)
    src = open_shards(o.shards, fields=("png",))
    run = RunDir(o.out, is_main=d.is_main)
    state = session.resolve_resume(o, run, explicit, IDENTITY, KIND)
    h, w = src.image_size
    if (h, w) != (o.size, o.size):
        raise UserError(
            f"--size {o.size} does not match the shards in {o.shards}, which hold {w}x{h} images; "
            f"pass --size {h} (if supported) or rebuild the shards at {o.size}x{o.size}"
        )
    if src.channels["png"] != 3:
        raise UserError(
            f"the shards in {o.shards} hold {src.channels['png']}-channel images; DCGAN needs RGB"
        )
    per_rank = session.per_rank_batch(o.batch, d)
    resolved = {"device": device, "precision": precision, "world_size": d.world_size}
    session.announce(KIND, o, run, state, resolved)

    torch.manual_seed(o.seed)
    G, D = build(o.size, o.nz, o.ngf, o.ndf, o.d_act)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
    counters = new_counters()
    channels_last = device.startswith("cuda")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in (G, D, G_ema):
        m.to(device, memory_format=fmt)
    gen = torch.Generator(device=device)
    gen.manual_seed(o.seed * 1000 + d.rank + 1)
    if state is not None:
        counters = session.restore_pair(state, G, D, opt_g, opt_d)
        G_ema.load_state_dict(state["G_ema"])
        noise = state["noise_per_rank"]
        if len(noise) == d.world_size:
            gen.set_state(noise[d.rank])
        else:  # another number of processes: a new noise stream per rank, seeded by the step
            gen.manual_seed(o.seed * 1000 + d.rank + 1 + 7919 * counters["step"])
        run.truncate_stats(counters["nimg"])
    nets = Nets(*session.wrap_pair(d, G, D, o.compile), G, D, G_ema, opt_g, opt_d)

    batches, data = load_data(o, src, device, per_rank, d, counters["step"])
    if state is not None:
        # after load_data: building the in-memory data draws a seed from the global RNG
        rng.restore(state["rng"])
    z_grid = torch.randn(o.grid, o.nz, generator=torch.Generator().manual_seed(o.seed + 1))
    swd = None
    inception = None
    if d.is_main:
        reals = reference_reals(src, data, max(o.swd_n, o.grid), o.seed)
        if not (run.path / "reals.png").exists():
            save_grid(reals[: o.grid], run.path / "reals.png")
        if o.swd_n > 0:
            swd = SlicedWasserstein(reals[: o.swd_n], device=device)
            z_swd = torch.randn(swd.n, o.nz, generator=torch.Generator().manual_seed(o.seed + 2))
        if o.inception:
            inception = InceptionFeatures(o.inception, device)
            fid_reals = reference_reals(src, data, o.fid_n, o.seed + 3)
            z_fid = torch.randn(fid_reals.shape[0], o.nz, generator=torch.Generator().manual_seed(o.seed + 3))

    if state is None and swd is not None:  # the untrained generator's figure, as a baseline
        run.append_stats(
            {"tick": 0, "step": 0, "nimg": 0, "kimg": 0.0, **swd(generate(G_ema, z_swd, device, precision))}
        )
    clock = Clock(o, counters, nstats=len(TICK_FIGURES), desc="dcgan", d=d)
    last_snap = Path(state["path"]) if state is not None else None
    last_record: dict[str, Any] = {}
    G.train()
    D.train()
    try:
        while not clock.done:
            batch = clock.next_batch(batches)
            reals_b = prepare_reals(batch["png"].to(device, non_blocking=True), o.flip, gen, channels_last)
            loss_d, loss_g, s = train_step(nets, reals_b, o, gen, device, precision, nan=clock.nan_now)
            clock.observe(loss_d, loss_g)
            clock.add(torch.cat([torch.stack([loss_d, loss_g]), s]))
            clock.advance()
            update_ema(G_ema, G, ema_beta(o.batch, counters["nimg"], o.ema_kimg, o.ema_rampup))
            is_snap = clock.snap_due()
            if not (clock.tick_due() or is_snap):
                continue
            # -- tick: one synchronisation, stats line, NaN check --------------------------------------
            record, means = clock.tick(last_snap)
            record.update(zip(TICK_FIGURES, means, strict=True))
            noise_states = distributed.gather_states(d, gen.get_state()) if is_snap else []
            if is_snap and d.is_main:
                G_ema.eval()
                label = kimg_label(counters["nimg"])
                save_grid(generate(G_ema, z_grid, device, precision), run.path / f"fakes_{label}.png")
                if swd is not None:
                    record.update(swd(generate(G_ema, z_swd, device, precision)))
                if inception is not None:
                    record.update(fid_kid(inception, fid_reals, generate(G_ema, z_fid, device, precision)))
                snap = snapshot_state(nets, o, counters, noise_states)
                last_snap = run.save_snapshot(snap, counters["nimg"], keep=o.keep)
                record["snapshot"] = last_snap.name if last_snap else None
            if is_snap:
                clock.pause_done()
            run.append_stats(record)
            last_record = record
            clock.write(_tick_line(record))
    finally:
        clock.close()
        engine_data.close_batches(batches)
    summary = clock.summary(run.path, precision, last_record)
    summary["swd_avg"] = last_record.get("swd_avg")
    if d.is_main:
        write_stats(run.path, "train-dcgan", summary)
        print(
            summary_line("train dcgan", summary, ["kimg", "steps", "img_per_s", "swd_avg", "snapshot", "out"])
        )
    return summary


def _tick_line(r: dict[str, Any]) -> str:
    losses = (
        f"loss_d {r['loss_d']:.3f} loss_g {r['loss_g']:.3f} D(x) {r['d_real']:.3f} D(G(z)) {r['d_fake']:.3f}"
    )
    return tick_line(r, losses, f"swd {r['swd_avg']:.2f}" if "swd_avg" in r else None)
