"""`train fast-style`: the trainer on the engine's one loop (`train.engine.training_loop`).

Networks: `T` (the transformer, trained with Adam `opt`) and `T_ema` (its moving average, what
`train stylize` uses). The loss network is the VGG-19 of `--vgg-weights`, loaded and its
preprocessing detected by `train.models.vgg.load_vgg19` exactly as `train style` does; it is not
part of the snapshot. The synthetic motions of the stability loss come from the per-rank
generator `motion`, saved in every snapshot, and the content batches are a pure function of
(seed, step) (`train.fast_style.data`), so a resumed run continues the uninterrupted one exactly.

Files in --out besides the engine's: `style.png` (the style image as used), `content.png` (the
held-out content images) and `samples_<kimg>.png` at every snapshot (those images stylised by
`T_ema`); each tick's stats line holds the losses, and each snapshot's the held-out losses
(`val_content`, `val_style`, `val_temporal`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from core.errors import UserError
from core.images import ImageRejected, load_image
from train.commands.fast_style import FastStyleOptions
from train.engine import training_loop
from train.engine.device import autocast
from train.engine.loop import tick_line
from train.engine.options import check_run_options
from train.engine.schedule import kimg_label
from train.engine.trainer import Parts, Trainer
from train.fast_style import losses as L
from train.fast_style.checkpoint import KIND
from train.fast_style.data import (
    Batches,
    ContentBatches,
    ContentIndex,
    center_crop,
    fit_short_side,
    to_tensor,
)
from train.grid import save_grid
from train.models.transformer import TransformerNet

FIGURES = ("loss", "content", "style", "tv", "temporal")


def layer_list(value: str, option: str) -> list[str]:
    """Comma-separated VGG-19 layer names, each checked (UserError naming `option`)."""
    from train.models.vgg import layer_index

    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise UserError(f"{option} is empty; give VGG-19 layer names such as relu2_2")
    for n in names:
        layer_index(n, option)
    return names


def check_options(o: FastStyleOptions) -> None:
    """UserError for values no run can use (named after the CLI option)."""
    check_run_options(o)
    if not o.style:
        raise UserError("--style is required: the style image to learn")
    if not o.vgg_weights:
        raise UserError("--vgg-weights is required: a VGG-19 weights file (see the README)")
    if o.size < 16:
        raise UserError(f"--size must be at least 16, not {o.size}")
    for name in (
        "content_weight",
        "style_weight",
        "tv_weight",
        "temporal_weight",
        "max_shift",
        "noise",
        "ema_kimg",
    ):
        if getattr(o, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be 0 or more, not {getattr(o, name)}")
    if o.width < 1 or o.blocks < 0:
        raise UserError(f"--width must be at least 1 and --blocks 0 or more, not {o.width} and {o.blocks}")
    if o.style_size < 0 or o.holdout < 0:
        raise UserError("--style-size and --holdout must be 0 or more")
    layer_list(o.content_layers, "--content-layers")
    layer_list(o.style_layers, "--style-layers")


def load_style(path: str, short_side: int) -> torch.Tensor:
    """The style image as float [1, 3, H, W] in [0, 1], its short side resized to `short_side`."""
    try:
        img = load_image(path)
    except ImageRejected as e:
        raise UserError(
            f"--style {path}: not a usable image ({e.reason}: {e.detail}); give a PNG or JPEG"
        ) from None
    return to_tensor([fit_short_side(img, short_side)]).float() / 255


class FastStyleTrainer(Trainer):
    """A transformer network with Adam and a moving average, against a frozen VGG-19."""

    kind = KIND
    figures = FIGURES
    guarded = 1
    summary_keys = ("kimg", "steps", "img_per_s", "val_style", "val_temporal", "snapshot", "out")
    check = staticmethod(check_options)

    def prepare(self) -> dict[str, Any]:
        from train.models.vgg import load_vgg19

        o = self.o
        self.index = ContentIndex(o.shards, o.holdout)
        self.style_img = load_style(o.style, o.style_size or o.size)
        self.vgg, self.vgg_prep = load_vgg19(o.vgg_weights, o.vgg_preprocess, self.device)
        self.content_layers = layer_list(o.content_layers, "--content-layers")
        self.style_layers = layer_list(o.style_layers, "--style-layers")
        if self.d.is_main:
            print(f"train {KIND}: VGG-19 {o.vgg_weights}: {self.vgg_prep.how}")
        return {
            "vgg_preprocess": self.vgg_prep.mode, "vgg_preprocess_how": self.vgg_prep.how,
            "content_images": len(self.index), "heldout_images": len(self.index.heldout),
        }  # fmt: skip

    def build(self) -> Parts:
        o, device, rank = self.o, self.device, self.d.rank
        # a resumed run keeps the network it was built with (runs older than --antialias have none)
        config = (self.state or {}).get("net") or {
            "width": o.width,
            "blocks": o.blocks,
            "antialias": o.antialias,
        }
        T = TransformerNet.from_config(config).to(device)
        T_ema = copy.deepcopy(T).eval().requires_grad_(False)
        opt = torch.optim.Adam(T.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))

        def motion(step: int) -> torch.Generator:  # a new stream per rank, seeded by the step it starts at
            return torch.Generator(device=device).manual_seed(o.seed * 1000 + rank + 1 + 7919 * step)

        ema = {"T_ema": ("T", o.ema_kimg, o.ema_rampup)} if o.ema_kimg > 0 else {}
        return Parts(
            nets={"T": T, "T_ema": T_ema}, opts={"opt": opt}, trained=("T",), ema=ema,
            generators={"motion": motion},
        )  # fmt: skip

    def batches(self, start_step: int) -> Any:
        # each rank draws its own sequence of crops, a function of (seed, rank, step)
        data = ContentBatches(self.index, self.per_rank, self.o.size, self.o.seed * 7919 + self.d.rank)
        return Batches(data, start_step, self.o.workers)

    def begin(self) -> dict[str, Any] | None:
        """Style targets, the held-out images (content.png, style.png) and the untrained network's figures."""
        o = self.o
        with torch.no_grad(), autocast(self.device, self.precision):
            feats = self.vgg(self.vgg_prep(self.style_img.to(self.device)), self.style_layers)
        self.style_grams = {k: L.gram(v.float()) for k, v in feats.items()}
        held = self.index.heldout or self.index.train[: max(1, min(o.holdout, 8))]
        from train.fast_style.data import read_image

        self.held = to_tensor([center_crop(read_image(e), o.size) for e in held])
        if not self.d.is_main:
            return None
        if not (self.out / "content.png").exists():
            save_grid(self.held, self.out / "content.png", pad=2)
            save_grid((self.style_img * 255).round().to(torch.uint8), self.out / "style.png", pad=0)
        return self._validate(self.nets.raw["T"]) if self.state is None else None

    def _losses(
        self, T: Any, x: torch.Tensor, gen: torch.Generator | None, temporal: bool
    ) -> list[torch.Tensor]:
        """[total, content, style, tv, temporal] for a float batch x in [0, 1]."""
        o = self.o
        with autocast(self.device, self.precision):
            y = T(x)
            fy = self.vgg(self.vgg_prep(y), self.content_layers + self.style_layers)
            with torch.no_grad():
                fx = self.vgg(self.vgg_prep(x), self.content_layers)
        content = sum(torch.mean((fy[k].float() - fx[k].float()) ** 2) for k in self.content_layers)
        style = sum(torch.mean((L.gram(fy[k].float()) - self.style_grams[k]) ** 2) for k in self.style_layers)
        tv = L.tv_loss(y.float())
        temporal_l = torch.zeros((), device=x.device)
        if temporal and gen is not None:
            x2, grid, mask = L.motion(x, o.max_shift, o.noise, gen)
            with autocast(self.device, self.precision):
                y2 = T(x2)
            temporal_l = L.temporal_loss(y2.float(), y.float(), grid, mask)
        total = o.content_weight * content + o.style_weight * style + o.tv_weight * tv
        total = total + o.temporal_weight * temporal_l
        return [total, content, style, tv, temporal_l]

    def step(self, batch: Any, nan: bool) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).float().div_(255)
        opt = self.nets.opt["opt"]
        opt.zero_grad(set_to_none=True)
        parts = self._losses(self.nets["T"], x, self.nets.gen["motion"], self.o.temporal_weight > 0)
        loss = parts[0] * float("nan") if nan else parts[0]
        loss.backward()
        opt.step()
        return torch.stack([loss.detach(), *(p.detach().float() for p in parts[1:])])

    @torch.no_grad()
    def _validate(self, T: Any) -> dict[str, float]:
        """Losses of `T` on the held-out images, the stability one with fixed motions."""
        was = T.training
        T.eval()
        x = self.held.to(self.device).float() / 255
        gen = torch.Generator(device=self.device).manual_seed(self.o.seed + 11)
        _, content, style, _, temporal = self._losses(T, x, gen, True)
        T.train(was)
        return {"val_content": float(content), "val_style": float(style), "val_temporal": float(temporal)}

    def evaluate(self, record: dict[str, Any]) -> None:
        """At each snapshot: the held-out images stylised by T_ema, and its held-out losses."""
        T = self.nets.raw["T_ema"] if self.o.ema_kimg > 0 else self.nets.raw["T"]
        record.update(self._validate(T))
        with torch.no_grad(), autocast(self.device, self.precision):
            y = T(self.held.to(self.device).float() / 255).float()
        out = (y * 255).round().clamp(0, 255).to(torch.uint8).cpu()
        n = self.held.shape[0]
        grid = torch.cat([self.held, out])  # content row(s) above, stylised below
        save_grid(grid, self.out / f"samples_{kimg_label(self.counters['nimg'])}.png", nrow=min(n, 8))

    def extra_state(self) -> dict[str, Any]:
        return {"net": self.nets.raw["T"].config()}

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return {k: last.get(k) for k in ("val_content", "val_style", "val_temporal")}

    def tick_line(self, r: dict[str, Any]) -> str:
        losses = f"loss {r['loss']:.4g} content {r['content']:.4g} style {r['style']:.4g}"
        if self.o.temporal_weight > 0:
            losses += f" temporal {r['temporal']:.4g}"
        extra = f"val_style {r['val_style']:.4g}" if "val_style" in r else None
        return tick_line(r, losses, extra)


def train(o: FastStyleOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a fast-style training run; returns the summary (also in `<out>/_stats.json`)."""
    return training_loop.run(FastStyleTrainer, o, explicit)
