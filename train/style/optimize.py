"""One scale of the optimisation: the image (RGB, or luminance only) is optimised with L-BFGS or Adam.

Untiled, one evaluation is the usual forward and backward pass of the whole image. Tiled, an
evaluation runs the network on one tile at a time and adds up the image's gradient: each tile's
gradient is weighted by its blending window (which makes neighbours agree across the overlap)
and by its share of the image, so that the optimiser sees one smooth gradient of the whole image.
Style targets are global (the style images' Gram matrices, or a tile's blend of them); content
targets are the content crop's own activations; the tiling's cuts move every evaluation (by a
seeded offset) so that no pixel stays on a tile border. Total variation is computed on the whole
image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from train.models.vgg import LAYERS, VGG19, Preprocess
from train.style.losses import GramSum, content_loss, gram, style_loss, tv_loss
from train.style.memory import ScalePlan
from train.style.tiles import Tile, grid, max_shift, region_mix, spans, window


@dataclass
class Weights:
    content: float
    style: float
    tv: float
    content_layers: dict[str, float]
    style_layers: dict[str, float]

    @property
    def layers(self) -> list[str]:
        return sorted(set(self.content_layers) | set(self.style_layers), key=LAYERS.__getitem__)


def to_net_input(v: torch.Tensor, prep: Preprocess) -> torch.Tensor:
    """The network's input for an image variable (3 channels RGB, or 1 channel luminance as grey)."""
    return prep(v if v.shape[1] == 3 else v.expand(-1, 3, -1, -1))


def _stride(layer: str) -> int:
    block = int(layer[4] if layer.startswith("pool") else layer.split("_")[0][-1])
    return 2 ** (block if layer.startswith("pool") else block - 1)


@torch.no_grad()
def style_grams(
    model: VGG19,
    prep: Preprocess,
    img: torch.Tensor,
    layers: list[str],
    piece: int | None = None,
    halo: int = 32,
) -> dict[str, torch.Tensor]:
    """Gram matrices of `img` at `layers`; computed in pieces of `piece` px (each seen with `halo`
    px of context, only its own positions counted) when the image is larger than that."""
    h, w = img.shape[-2:]
    if piece is None or (h <= piece and w <= piece):
        feats = model(to_net_input(img, prep), layers)
        return {n: gram(feats[n]) for n in layers}
    piece = max(16, piece // 16 * 16)
    sums = {n: GramSum() for n in layers}
    for y in range(0, h, piece):
        for x in range(0, w, piece):
            y0, x0 = max(0, y - halo), max(0, x - halo)
            y1, x1 = min(h, y + piece + halo), min(w, x + piece + halo)
            feats = model(to_net_input(img[..., y0:y1, x0:x1], prep), layers)
            for n in layers:
                s = _stride(n)
                fy, fx = (y - y0) // s, (x - x0) // s
                ny, nx = -(-(min(h, y + piece) - y) // s), -(-(min(w, x + piece) - x) // s)
                sums[n].add(feats[n][..., fy : fy + ny, fx : fx + nx])
    return {n: sums[n].gram() for n in layers}


class ScaleProblem:
    """The loss and gradient of one scale's image variable."""

    def __init__(
        self,
        model: VGG19,
        prep: Preprocess,
        content: torch.Tensor,
        style_targets: list[dict[str, torch.Tensor]],
        blend: torch.Tensor,
        weights: Weights,
        plan: ScalePlan,
        regions: list[Tile] | None = None,
        region_weights: torch.Tensor | None = None,
        shift: bool = True,
        seed: int = 0,
    ) -> None:
        self.model, self.prep, self.content, self.w = model, prep, content, weights
        self.style_targets, self.blend = style_targets, blend
        self.plan = plan
        self.regions, self.region_weights = regions, region_weights
        self.tiled = plan.rows * plan.cols > 1
        h, w = plan.h, plan.w
        ext_y = max(s.b - s.a for s in spans(h, plan.rows, plan.overlap))
        ext_x = max(s.b - s.a for s in spans(w, plan.cols, plan.overlap))
        limit_y, limit_x = (plan.tile or ext_y), (plan.tile or ext_x)
        self.max_shift = (
            (max_shift(h, plan.rows, plan.overlap, limit_y), max_shift(w, plan.cols, plan.overlap, limit_x))
            if shift and self.tiled
            else (0, 0)
        )
        self.gen = torch.Generator().manual_seed(seed)
        self.global_targets = self._mix(blend)
        self.content_targets: dict[str, torch.Tensor] | None = None
        if not self.tiled:
            with torch.no_grad():
                self.content_targets = model(to_net_input(content, prep), list(weights.content_layers))

    def _mix(self, mix: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            n: sum(float(m) * t[n] for m, t in zip(mix, self.style_targets, strict=True) if float(m) > 0)
            for n in self.w.style_layers
        }  # type: ignore[misc]

    def _shift(self) -> tuple[int, int]:
        my, mx = self.max_shift
        dy = int(torch.randint(-my, my + 1, (1,), generator=self.gen)) if my else 0
        dx = int(torch.randint(-mx, mx + 1, (1,), generator=self.gen)) if mx else 0
        return dy, dx

    def tile_targets(self, tile: Tile) -> dict[str, torch.Tensor]:
        if self.regions is None or self.region_weights is None:
            return self.global_targets
        return self._mix(region_mix(tile, self.regions, self.region_weights))

    def evaluate(self, v: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
        """({content, style, tv, total}, gradient) at image `v` (weighted loss terms)."""
        w = self.w
        v = v.detach().contiguous()
        if not self.tiled:
            x = v.requires_grad_(True)
            feats = self.model(to_net_input(x, self.prep), w.layers)
            c = w.content * content_loss(feats, self.content_targets, w.content_layers)  # type: ignore[arg-type]
            s = w.style * style_loss(feats, self.global_targets, w.style_layers)
            t = w.tv * tv_loss(x)
            (g,) = torch.autograd.grad(c + s + t, x)
            return _floats(c, s, t), g
        h, wd = v.shape[-2:]
        n = h * wd
        g = torch.zeros_like(v)
        c_sum = s_sum = 0.0
        for tile in grid(h, wd, self.plan.rows, self.plan.cols, self.plan.overlap, self._shift()):
            xt = tile.crop(v).clone().requires_grad_(True)
            with torch.no_grad():
                ct = self.model(to_net_input(tile.crop(self.content), self.prep), list(w.content_layers))
            feats = self.model(to_net_input(xt, self.prep), w.layers)
            c = w.content * content_loss(feats, ct, w.content_layers)
            s = w.style * style_loss(feats, self.tile_targets(tile), w.style_layers)
            (gt,) = torch.autograd.grad(c + s, xt)
            win = window(tile.y, v.device)[:, None] * window(tile.x, v.device)[None, :]
            th, tw = tile.shape
            tile.crop(g).add_(gt * win * (th * tw / n))
            mass = float(win.sum()) / n
            c_sum += mass * float(c.detach())
            s_sum += mass * float(s.detach())
        x = v.requires_grad_(True)
        t = w.tv * tv_loss(x)
        (gtv,) = torch.autograd.grad(t, x)
        g += gtv
        tv = float(t.detach())
        return {"content": c_sum, "style": s_sum, "tv": tv, "total": c_sum + s_sum + tv}, g


def _floats(c: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
    vals = torch.stack([c.detach(), s.detach(), t.detach()]).tolist()
    return {"content": vals[0], "style": vals[1], "tv": vals[2], "total": sum(vals)}


def optimize(
    problem: ScaleProblem,
    v0: torch.Tensor,
    iters: int,
    optimizer: str,
    lr: float,
    history: int,
    on_eval: Callable[[dict[str, float]], None],
) -> torch.Tensor:
    """Run `iters` evaluations (L-BFGS iterations, or Adam steps) from `v0`; returns the image."""
    v = v0.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            [v],
            lr=lr,
            max_iter=iters,
            max_eval=iters,
            history_size=history,
            tolerance_grad=-1,
            tolerance_change=-1,
        )

        def closure() -> torch.Tensor:
            losses, g = problem.evaluate(v)
            v.grad = g
            on_eval(losses)
            return torch.tensor(losses["total"])

        opt.step(closure)
    else:
        opt = torch.optim.Adam([v], lr=lr)
        for _ in range(iters):
            losses, g = problem.evaluate(v)
            v.grad = g
            on_eval(losses)
            opt.step()
    return v.detach()
