"""pix2pix training (line art -> colour): the per-step update, and the trainer the engine runs.

One step: D sees [real pairs; fake pairs] in ONE forward/backward (GroupNorm is per sample, so
mixing them changes nothing, and DDP sees one forward per backward); then G is updated with the
adversarial loss through a frozen, un-wrapped D plus lambda_L1 * L1. The learning rate is constant,
then decays linearly to zero over the last `decay_kimg` (default: the second half of the run),
computed from images seen at every step, so a resumed run has the same rate.

Randomness: the crop/flip and the simulated hints of step k come from a generator seeded by
(seed, k, rank); dropout uses the global torch RNG, saved in snapshots; batch k of the in-memory
data is a pure function of (seed, k, rank). So a resumed run repeats the uninterrupted one exactly
(memory data path; the streaming path resumes at the same batch index of the resampled stream).

The data checks and the split into training and validation posts are in `train.pix2pix_data`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core.errors import UserError
from train.commands.pix2pix import Pix2PixOptions
from train.conditioning import TAG_MODES, Prep, check_plane_fits, condition_channels, prepare
from train.engine import device as dev
from train.engine import training_loop
from train.engine.loop import tick_line
from train.engine.options import check_run_options
from train.engine.rundir import RunDir, load_snapshot
from train.engine.schedule import kimg_label
from train.engine.trainer import Nets, Parts, Trainer
from train.models.patchgan import PatchDiscriminator, default_layers, receptive_field
from train.models.unet import UNetGenerator, unet_depth
from train.pix2pix_data import COLOR, LINE, TAGS, load_data, open_lineart, resolve_vocab, tags_length
from train.validation import METRICS, evaluate, is_better, save_preview

__all__ = ["Colorizer", "Pix2PixOptions", "Pix2PixTrainer", "load_colorizer", "train", "train_step"]

KIND = "pix2pix"
TICK_FIGURES = ("loss_d", "loss_g_gan", "loss_l1", "d_real", "d_fake")
"""Per-step figures averaged over each tick (what `train_step` returns)."""


def check_options(o: Pix2PixOptions) -> None:
    """UserError for values no run can use (named after the CLI option)."""
    if o.tags_mode not in TAG_MODES:
        raise UserError(f"--tags-mode must be one of {', '.join(TAG_MODES)}, not {o.tags_mode!r}")
    try:
        unet_depth(o.size)
    except ValueError as e:
        raise UserError(f"--size {o.size}: {e}; use e.g. 96 or 256") from e
    if o.best_metric not in METRICS:
        raise UserError(f"--best-metric must be one of {', '.join(METRICS)}, not {o.best_metric!r}")
    if o.best_metric == "hint_error" and not o.hints:
        raise UserError("--best-metric hint_error needs --hints")
    for name in ("ngf", "ndf", "grid", "embed_dim", "max_hints"):
        if getattr(o, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(o, name)}")
    if not 0 <= o.d_layers <= 5:
        raise UserError(f"--d-layers must be 0 (auto) to 5, not {o.d_layers}")
    if not 0 <= o.val_fraction < 1:
        raise UserError(f"--val-fraction must be in [0, 1), not {o.val_fraction}")
    if not o.gan_weight >= 0:
        raise UserError(f"--gan-weight must be 0 (the L1-only U-Net) or more, not {o.gan_weight}")
    if not 0 <= o.hint_none <= 1 or not 0 <= o.dropout < 1:
        raise UserError("--hint-none must be in [0, 1] and --dropout in [0, 1)")
    check_run_options(o)


# -- models ------------------------------------------------------------------------------------------


def has_discriminator(o: dict[str, Any]) -> bool:
    """False for `--gan-weight 0`: the plain U-Net trained with the L1 loss alone."""
    return float(o.get("gan_weight", 1.0)) != 0


def build_models(o: dict[str, Any], vocab_size: int) -> tuple[UNetGenerator, PatchDiscriminator | None]:
    """G and D (None for `--gan-weight 0`) for resolved options (a dict as stored in snapshots)."""
    cin = condition_channels(o["tags_mode"])
    tag_dim = vocab_size if o["tags_mode"] == "embed" else 0
    g = UNetGenerator(
        cin, o["size"], o["ngf"], dropout=o["dropout"], tag_dim=tag_dim, embed_dim=o["embed_dim"]
    )
    if not has_discriminator(o):
        return g, None
    layers = o["d_layers"] or default_layers(o["size"])
    d = PatchDiscriminator(cin + 3, layers, o["ndf"], tag_dim=tag_dim, embed_dim=o["embed_dim"])
    return g, d


def prep_of(o: dict[str, Any]) -> Prep:
    return Prep(o["size"], o["tags_mode"], o["hints"], o["hint_none"], o["max_hints"], o["jitter"])


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def train_step(
    nets: Nets,
    cond: torch.Tensor,
    target: torch.Tensor,
    tags: torch.Tensor | None,
    lambda_l1: float,
    device: str,
    precision: str,
    nan: bool = False,
    gan_weight: float = 1.0,
) -> torch.Tensor:
    """One D and one G update (networks "G", "D"; optimisers "opt_g", "opt_d"); returns
    [loss_d, loss_g_gan, loss_l1, D(real), D(fake)] on the device. With `gan_weight` 0 there is no D:
    one L1 update of G, the D figures are zeros (the trainer leaves them out of its records)."""
    with dev.autocast(device, precision):
        fake = nets["G"](cond, tags)
    if gan_weight == 0:
        nets.opt["opt_g"].zero_grad(set_to_none=True)
        loss_l1 = (fake.float() - target).abs().mean()
        if nan:
            loss_l1 = loss_l1 * float("nan")
        (lambda_l1 * loss_l1).backward()
        nets.opt["opt_g"].step()
        zero = torch.zeros((), device=loss_l1.device)
        return torch.stack([zero, zero, loss_l1.detach(), zero, zero])
    nets.opt["opt_d"].zero_grad(set_to_none=True)
    tags2 = torch.cat([tags, tags]) if tags is not None else None
    with dev.autocast(device, precision):
        logits = nets["D"](
            torch.cat([cond, cond]), torch.cat([target, fake.detach().to(target.dtype)]), tags2
        )
    l_real, l_fake = logits.float().chunk(2)
    loss_d = 0.5 * (bce(l_real, 1.0) + bce(l_fake, 0.0))
    if nan:
        loss_d = loss_d * float("nan")
    loss_d.backward()
    nets.opt["opt_d"].step()

    nets.opt["opt_g"].zero_grad(set_to_none=True)
    nets.raw["D"].requires_grad_(False)
    with dev.autocast(device, precision):
        l_g = nets.local("D")(cond, fake, tags)
    loss_gan = bce(l_g, 1.0)
    loss_l1 = (fake.float() - target).abs().mean()
    (gan_weight * loss_gan + lambda_l1 * loss_l1).backward()
    nets.raw["D"].requires_grad_(True)
    nets.opt["opt_g"].step()
    with torch.no_grad():
        return torch.stack(
            [
                loss_d.detach(),
                loss_gan.detach(),
                loss_l1.detach(),
                torch.sigmoid(l_real).mean(),
                torch.sigmoid(l_fake).mean(),
            ]
        )


def lr_at(o: Pix2PixOptions, nimg: int, total_nimg: int) -> float:
    """Constant, then linear decay to 0 over the last decay_kimg (default: half the run)."""
    decay = o.decay_kimg * 1000 if o.decay_kimg is not None else total_nimg / 2
    if decay <= 0:
        return o.lr
    return o.lr * min(1.0, max(0.0, total_nimg - nimg) / decay)


def step_generator(seed: int, step: int, rank: int, device: str) -> torch.Generator:
    """The generator for step k's augmentation and hints: a pure function of (seed, k, rank)."""
    d = hashlib.sha256(f"pix2pix-step-{seed}-{step}-{rank}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(d[:8], "little") >> 1)


@dataclass
class Colorizer:
    """A trained generator and what inference needs to feed it."""

    G: UNetGenerator
    options: dict[str, Any]
    vocab: Any  # core.vocab.Vocab or None
    lineart: dict[str, Any]  # how the training line art was made (low, high, invert)
    device: str


def load_colorizer(path: str | Path, device: str = "cpu") -> Colorizer:
    """The generator of a pix2pix snapshot (eval mode: no dropout) with its options and vocabulary."""
    from core.vocab import Vocab

    state = load_snapshot(path, KIND)
    opts = state["options"]
    vocab = (
        Vocab(tags=tuple(state["vocab"]["tags"]), hash=state["vocab"]["hash"]) if state.get("vocab") else None
    )
    g, _ = build_models(opts, len(vocab) if vocab else 0)
    try:
        g.load_state_dict(state["G"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path}: the generator weights do not fit the options stored with them ({e})") from e
    return Colorizer(g.to(device).eval(), opts, vocab, dict(state.get("lineart") or {}), device)


# -- the run -------------------------------------------------------------------------------------------


class Pix2PixTrainer(Trainer):
    """U-Net G and PatchGAN D with one Adam each; validation on held-out posts, `network-best.pt`."""

    kind = KIND
    figures = TICK_FIGURES
    guarded = 3
    summary_keys = ("kimg", "steps", "img_per_s", "val_l1", "val_psnr", "out")
    check = staticmethod(check_options)

    def prepare(self) -> dict[str, Any]:
        """Check the shards and the vocabulary (and that it is the one of the run resumed)."""
        from core.atomic import atomic_write_json

        o, state = self.o, self.state
        self.src, meta, self.fields = open_lineart(o)
        vocab = self.vocab = resolve_vocab(o, meta, tags_length(self.src, self.fields))
        if o.tags_mode == "plane":
            check_plane_fits(len(vocab), o.size)
        if state is not None and o.tags_mode != "none":
            saved = state.get("vocab") or {}
            if saved.get("hash") != vocab.hash:
                raise UserError(
                    f"the vocabulary of {o.shards} (hash {vocab.hash[:12]}) does not match the checkpoint "
                    f"{state['path']} (hash {str(saved.get('hash'))[:12]}); resume on the shards it was trained on"
                )
        self.lineart = {k: meta.get(k) for k in ("low", "high", "invert")}
        d_layers = (o.d_layers or default_layers(o.size)) if o.gan_weight != 0 else None
        rf = receptive_field(d_layers) if d_layers else None
        if self.d.is_main and vocab is not None:
            atomic_write_json(self.out / "vocab.json", vocab.to_json())
        return {
            "unet_depth": unet_depth(o.size), "d_layers": d_layers, "d_receptive_field": rf,
            "vocab_size": len(vocab) if vocab else 0, "vocab_hash": vocab.hash if vocab else None,
            "lineart": self.lineart,
        }  # fmt: skip

    def build(self) -> Parts:
        o = self.o
        G, D = build_models(dataclasses.asdict(o), len(self.vocab) if self.vocab else 0)
        opt_g = torch.optim.Adam(G.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
        G.to(self.device)
        self.best: dict[str, Any] = {"metric": o.best_metric, "value": None, "nimg": None}
        if D is None:  # --gan-weight 0: the plain U-Net, nothing of a discriminator built or saved
            return Parts(nets={"G": G}, opts={"opt_g": opt_g}, trained=("G",))
        opt_d = torch.optim.Adam(D.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
        D.to(self.device)
        return Parts(nets={"G": G, "D": D}, opts={"opt_g": opt_g, "opt_d": opt_d}, trained=("G", "D"))

    def restore(self, state: dict[str, Any]) -> None:
        self.best = dict(state.get("best") or self.best)

    def batches(self, start_step: int) -> Any:
        o = self.o
        batches, self.val, self.data_mode = load_data(
            o, self.src, self.fields, self.device, self.per_rank, self.d, start_step
        )
        self.prep = prep_of(dataclasses.asdict(o))
        self.grid_data = {f: t[: o.grid] for f, t in self.val.items()}
        self.eval_kimg = o.val_kimg if self.val else None  # without validation data: nothing to evaluate
        return batches

    def step(self, batch: Any, nan: bool) -> torch.Tensor:
        o, device, c = self.o, self.device, self.counters
        gen = step_generator(o.seed, c["step"], self.d.rank, device)
        tags = batch[TAGS].to(device, non_blocking=True) if TAGS in batch else None
        cond, target, _, _ = prepare(
            batch[COLOR].to(device, non_blocking=True), batch[LINE].to(device, non_blocking=True), tags,
            self.prep, gen, augment=True, hints="train",
        )  # fmt: skip
        self.lr = lr_at(o, c["nimg"], o.total_nimg())
        for opt in self.nets.opt.values():
            for group in opt.param_groups:
                group["lr"] = self.lr
        return train_step(
            self.nets, cond, target, tags, o.lambda_l1, device, self.precision, nan, o.gan_weight
        )

    def on_tick(self, record: dict[str, Any]) -> None:
        record["lr"] = self.lr
        if self.o.gan_weight == 0:  # no discriminator: no D figures
            for k in ("loss_d", "loss_g_gan", "d_real", "d_fake"):
                record.pop(k, None)

    def evaluate(self, record: dict[str, Any]) -> None:
        """Validation metrics, a preview grid, and `network-best.pt` when the metric improved."""
        if not self.val:
            return
        o, G = self.o, self.nets.raw["G"]

        def autocast_fn() -> Any:
            return dev.autocast(self.device, self.precision)

        label = kimg_label(self.counters["nimg"])
        metrics = evaluate(G, self.val, self.prep, self.device, autocast_fn)
        record.update({f"val_{k}": round(v, 6) for k, v in metrics.items()})
        save_preview(G, self.grid_data, self.prep, self.device, autocast_fn, self.out / f"val_{label}.png")
        value = metrics.get(o.best_metric)
        if value is not None and is_better(o.best_metric, value, self.best["value"]):
            self.best = {"metric": o.best_metric, "value": value, "nimg": self.counters["nimg"]}
            run_best(self.dir, self.snapshot(), self.best)
            record["best"] = True

    def extra_state(self) -> dict[str, Any]:
        """The vocabulary, how the line art was made, and the best validation figure so far."""
        vocab = {"tags": list(self.vocab.tags), "hash": self.vocab.hash} if self.vocab else None
        return {"vocab": vocab, "lineart": self.lineart, "best": self.best}

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return {
            "val_l1": last.get("val_l1"), "val_psnr": last.get("val_psnr"), "val_ssim": last.get("val_ssim"),
            "val_hint_error": last.get("val_hint_error"), "best": self.best, "data": self.data_mode,
            "val_samples": int(self.val[COLOR].shape[0]) if self.val else 0,
        }  # fmt: skip

    def tick_line(self, r: dict[str, Any]) -> str:
        losses = f"loss_d {r['loss_d']:.3f} gan {r['loss_g_gan']:.3f} " if "loss_d" in r else ""
        losses += f"l1 {r['loss_l1']:.4f}"
        val = (
            f"val l1 {r['val_l1']:.4f} psnr {r['val_psnr']:.2f} ssim {r['val_ssim']:.3f}"
            if "val_l1" in r
            else None
        )
        return tick_line(r, losses, val)


def train(o: Pix2PixOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a pix2pix run; returns the final summary (also in `<out>/_stats.json`)."""
    return training_loop.run(Pix2PixTrainer, o, explicit)


def run_best(run: RunDir, state: dict[str, Any], best: dict[str, Any]) -> Path:
    """Write `network-best.pt` (a full snapshot) and `best.json`, atomically."""
    import io

    from core.atomic import atomic_write_bytes, atomic_write_json

    buf = io.BytesIO()
    torch.save(state, buf)
    path = run.path / "network-best.pt"
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_json(run.path / "best.json", {**best, "snapshot": path.name})
    return path
