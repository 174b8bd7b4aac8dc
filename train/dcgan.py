"""DCGAN training: the per-step update, and the trainer (parts, data, samples, metrics) the engine runs.

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
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core.errors import UserError
from train.commands.dcgan import DCGANOptions
from train.engine import data as engine_data
from train.engine import device as dev
from train.engine import training_loop
from train.engine.loop import tick_line
from train.engine.options import check_run_options
from train.engine.rundir import load_snapshot
from train.engine.schedule import kimg_label
from train.engine.trainer import Nets, Parts, Trainer
from train.grid import save_grid
from train.metrics import InceptionFeatures, SlicedWasserstein, fid_kid
from train.models.dcgan import SIZES, Generator, build

__all__ = ["DCGANOptions", "DCGANTrainer", "generate", "load_generator", "train", "train_step"]

KIND = "dcgan"
LOSSES = ("bce", "hinge")
D_ACTS = ("lrelu", "elu")
TICK_FIGURES = ("loss_d", "loss_g", "d_real", "d_fake", "logit_real", "logit_fake")
"""Per-step figures averaged over each tick: losses, D(x), D(G(z)), and D's logits on both."""


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


def shrink(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float [B, C, H, W] -> [B, C, size, size] with the area filter (what `--size` below the shards'
    size does, on the device the batch is on); unchanged when it already is that size."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="area")


def prepare_reals(
    x: torch.Tensor, flip: bool, gen: torch.Generator, channels_last: bool, size: int | None = None
) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float in [-1, 1] (shrunk to `size` with the area filter), each image
    flipped left-right with probability 1/2."""
    x = x.float().div_(127.5).sub_(1.0)
    if size is not None:
        x = shrink(x, size)
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
    """One D update and one G update (networks "G", "D"; optimisers "opt_g", "opt_d"); returns
    (loss_d, loss_g, stats[4]) as device tensors."""
    z = torch.randn(reals.shape[0], o.nz, 1, 1, generator=gen, device=gen.device).to(device)
    with dev.autocast(device, precision):
        fake = nets["G"](z)
    # D: reals and fakes in separate forward/backward passes (BatchNorm sees unmixed batches)
    nets.opt["opt_d"].zero_grad(set_to_none=True)
    with dev.autocast(device, precision):
        logit_real = nets["D"](reals)
    loss_real, _ = d_losses(o.loss, logit_real, logit_real[:0])
    if nan:
        loss_real = loss_real * float("nan")
    loss_real.backward()
    with dev.autocast(device, precision):
        logit_fake = nets["D"](fake.detach())
    _, loss_fake = d_losses(o.loss, logit_fake[:0], logit_fake)
    loss_fake.backward()
    nets.opt["opt_d"].step()
    # G: through a frozen D (no weight gradients for D)
    nets.opt["opt_g"].zero_grad(set_to_none=True)
    nets.raw["D"].requires_grad_(False)
    with dev.autocast(device, precision):
        logit_g = nets.local("D")(fake)
    loss_g = g_loss(o.loss, logit_g)
    if nan:
        loss_g = loss_g * float("nan")
    loss_g.backward()
    nets.raw["D"].requires_grad_(True)
    nets.opt["opt_g"].step()
    with torch.no_grad():
        lr_, lf = logit_real.float(), logit_fake.float()
        stats = torch.stack([torch.sigmoid(lr_).mean(), torch.sigmoid(lf).mean(), lr_.mean(), lf.mean()])
    return (loss_real + loss_fake).detach(), loss_g.detach(), stats


# -- set-up helpers --------------------------------------------------------------------------------


def shrink_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [B, C, H, W] -> uint8 [B, C, size, size], area filter, rounded (reals for grids and SWD)."""
    if x.shape[-2:] == (size, size):
        return x
    return shrink(x.float(), size).round_().clamp_(0, 255).to(torch.uint8)


def reference_reals(
    src: Any, data: dict[str, Any] | None, n: int, seed: int, size: int | None = None
) -> torch.Tensor:
    """A fixed random subset of n real images (uint8, CPU; shrunk to `size`) for grids and SWD."""
    n = min(n, src.num_samples)
    size = size or src.image_size[0]
    gen = torch.Generator().manual_seed(seed + 7)
    if data is not None:
        idx = torch.randperm(src.num_samples, generator=gen)[:n].to(data["png"].device)
        return shrink_uint8(data["png"].index_select(0, idx), size).cpu()
    import numpy as np

    from train.data.decode import decode_image
    from train.data.source import iter_samples  # local paths and URLs

    wanted = set(torch.randperm(src.num_samples, generator=gen)[:n].tolist())
    out, i = [], 0
    for shard in src.shards:
        for key, files in iter_samples(shard):
            if i in wanted:
                out.append(decode_image(files["png"], channels=3, where=f"{shard}:{key}.png"))
            i += 1
    return shrink_uint8(torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous(), size)


@torch.no_grad()
def generate(g: Generator, z: torch.Tensor, device: str, precision: str, batch: int = 256) -> torch.Tensor:
    """uint8 images [N, 3, H, W] on the CPU from latents z [N, nz]."""
    from train.grid import to_uint8

    out = []
    for i in range(0, z.shape[0], batch):
        with dev.autocast(device, precision):
            out.append(to_uint8(g(z[i : i + batch].to(device)).float()))
    return torch.cat(out)


BN_LATENTS = 1024
"""Latents whose outputs give the EMA generator's BatchNorm statistics (fixed: seeded by --seed)."""


@torch.no_grad()
def recompute_bn_stats(g: Generator, z: torch.Tensor, device: str, precision: str, batch: int = 256) -> None:
    """Set g's BatchNorm running statistics to those of its own activations on latents z [N, nz].

    The engine's EMA averages weights and copies the live G's buffers, i.e. statistics of another
    network's activations; the averaged weights need their own (SWA's `update_bn`). Cumulative
    averages over the batches (momentum None); no RNG is drawn; g is left in eval mode."""
    bns = [m for m in g.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    g.train()
    for i in range(0, z.shape[0], batch):
        with dev.autocast(device, precision):
            g(z[i : i + batch].to(device))
    for m, momentum in zip(bns, momenta, strict=True):
        m.momentum = momentum
    g.eval()


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


class DCGANTrainer(Trainer):
    """G and D with one Adam each, an EMA generator, noise and flips from a saved per-rank generator."""

    kind = KIND
    figures = TICK_FIGURES
    guarded = 2
    summary_keys = ("kimg", "steps", "img_per_s", "swd_avg", "snapshot", "out")
    check = staticmethod(check_options)

    def prepare(self) -> dict[str, Any]:
        from train.loader import open_shards

        o = self.o
        self.src = open_shards(o.shards, fields=("png",))
        h, w = self.src.image_size
        if h != w:
            raise UserError(
                f"the shards in {o.shards} hold {w}x{h} images; DCGAN needs square ones (`prep faces`)"
            )
        if h < o.size:
            smaller = ", ".join(str(s) for s in sorted(SIZES) if s <= h) or "none"
            raise UserError(
                f"--size {o.size} is larger than the {w}x{h} images of the shards in {o.shards}; pass a "
                f"--size up to {h} (supported: {smaller}) or rebuild the shards with `prep faces --size {o.size}`"
            )
        if self.src.channels["png"] != 3:
            raise UserError(
                f"the shards in {o.shards} hold {self.src.channels['png']}-channel images; DCGAN needs RGB"
            )
        return {}

    def build(self) -> Parts:
        o, device, rank = self.o, self.device, self.d.rank
        G, D = build(o.size, o.nz, o.ngf, o.ndf, o.d_act)
        G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        opt_g = torch.optim.Adam(G.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
        opt_d = torch.optim.Adam(D.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
        self.channels_last = device.startswith("cuda")
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for m in (G, D, G_ema):
            m.to(device, memory_format=fmt)

        def noise(step: int) -> torch.Generator:  # a new stream per rank, seeded by the step it starts at
            return torch.Generator(device=device).manual_seed(o.seed * 1000 + rank + 1 + 7919 * step)

        return Parts(
            nets={"G": G, "D": D, "G_ema": G_ema}, opts={"opt_g": opt_g, "opt_d": opt_d}, trained=("G", "D"),
            ema={"G_ema": ("G", o.ema_kimg, o.ema_rampup)}, generators={"noise": noise},
        )  # fmt: skip

    def batches(self, start_step: int) -> Any:
        """--data auto|memory|stream; the in-memory data also serves the reference reals."""
        o, src, fields = self.o, self.src, ("png",)
        h, w = src.image_size
        self.data = None
        if engine_data.memory_mode(o, src.num_samples * 3 * h * w, self.device):
            self.data = engine_data.load_memory(o, src, self.device, self.d, fields)
            return engine_data.memory_batches(o, self.data, self.per_rank, self.d, start_step, fields)
        return engine_data.stream_batches(o, src, self.per_rank, self.d, start_step, fields)

    def begin(self) -> dict[str, Any] | None:
        """Fixed latents, reals.png, the SWD reference and (with --inception) FID's; the untrained
        generator's SWD as a baseline."""
        o, src, device = self.o, self.src, self.device
        self.z_grid = torch.randn(o.grid, o.nz, generator=torch.Generator().manual_seed(o.seed + 1))
        self.swd = self.inception = None
        if not self.d.is_main:
            return None
        reals = reference_reals(src, self.data, max(o.swd_n, o.grid), o.seed, o.size)
        if not (self.out / "reals.png").exists():
            save_grid(reals[: o.grid], self.out / "reals.png")
        if o.swd_n > 0:
            self.swd = SlicedWasserstein(reals[: o.swd_n], device=device)
            self.z_swd = torch.randn(self.swd.n, o.nz, generator=torch.Generator().manual_seed(o.seed + 2))
        if o.inception:
            self.inception = InceptionFeatures(o.inception, device)
            self.fid_reals = reference_reals(src, self.data, o.fid_n, o.seed + 3, o.size)
            self.z_fid = torch.randn(
                self.fid_reals.shape[0], o.nz, generator=torch.Generator().manual_seed(o.seed + 3)
            )
        new_run = self.state is None
        return self.swd(self._fakes(self.z_swd)) if self.swd is not None and new_run else None

    def step(self, batch: Any, nan: bool) -> torch.Tensor:
        o, device = self.o, self.device
        gen = self.nets.gen["noise"]
        x = batch["png"].to(device, non_blocking=True)  # shrunk to --size on the device, after the copy
        reals = prepare_reals(x, o.flip, gen, self.channels_last, o.size)
        loss_d, loss_g, s = train_step(self.nets, reals, o, gen, device, self.precision, nan=nan)
        return torch.cat([torch.stack([loss_d, loss_g]), s])

    def evaluate(self, record: dict[str, Any]) -> None:
        """At each snapshot (before it is written): the EMA generator's own BatchNorm statistics, its
        grid, SWD and (with --inception) FID/KID."""
        z_bn = torch.randn(BN_LATENTS, self.o.nz, generator=torch.Generator().manual_seed(self.o.seed + 4))
        recompute_bn_stats(self.nets.raw["G_ema"], z_bn, self.device, self.precision)
        label = kimg_label(self.counters["nimg"])
        save_grid(self._fakes(self.z_grid), self.out / f"fakes_{label}.png")
        if self.swd is not None:
            record.update(self.swd(self._fakes(self.z_swd)))
        if self.inception is not None:
            record.update(fid_kid(self.inception, self.fid_reals, self._fakes(self.z_fid)))

    def _fakes(self, z: torch.Tensor) -> torch.Tensor:
        return generate(self.nets.raw["G_ema"], z, self.device, self.precision)

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return {"swd_avg": last.get("swd_avg")}

    def tick_line(self, r: dict[str, Any]) -> str:
        losses = f"loss_d {r['loss_d']:.3f} loss_g {r['loss_g']:.3f} D(x) {r['d_real']:.3f} D(G(z)) {r['d_fake']:.3f}"
        return tick_line(r, losses, f"swd {r['swd_avg']:.2f}" if "swd_avg" in r else None)


def train(o: DCGANOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a DCGAN training run; returns the final summary (also in `<out>/_stats.json`)."""
    return training_loop.run(DCGANTrainer, o, explicit)
