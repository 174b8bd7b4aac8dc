"""`train style` from start to end: check every input, plan the scales and tiles, optimise, write OUT
and OUT.json (both atomically, at the end: a failed run leaves neither)."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import typer

from core.atomic import atomic_write_json, ensure_out_dir
from core.errors import UserError
from core.stats import summary_line
from train.engine.device import resolve_device
from train.models.vgg import LAYERS, load_vgg19
from train.style import color
from train.style.choose import TileStyles, choose, descriptor, open_tile_styles
from train.style.imageio import fit_long_side, read_rgb, resize, to_tensor, to_uint8, write_image
from train.style.memory import plan
from train.style.optimize import ScaleProblem, Weights, optimize, style_grams, to_net_input
from train.style.settings import MIN_TILE, StyleSettings, check
from train.style.tiles import count, grid

DEFAULT_REGIONS = 4  # per-tile styles without --tile: a 4 x 4 grid, as in the write-up's 16 tiles
CHOOSE_SIZE = 512  # long side at which per-tile styles are chosen


def _echo(msg: str) -> None:
    typer.echo(f"style: {msg}", err=True)


def peak_memory_gib(device: str) -> dict[str, float]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"rss_peak_gib": round(rss / (1024**3 if sys.platform == "darwin" else 1024**2), 3)}
    if device.startswith("cuda"):
        out["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 3)
    return out


def _region_grid(s: StyleSettings, ts: TileStyles, fh: int, fw: int) -> tuple[int, int]:
    """(rows, cols) of per-tile styles: the map's grid, else the --tile grid, else 4 x 4."""
    if s.tile is not None:
        from train.style.memory import default_overlap

        o = s.tile_overlap if s.tile_overlap is not None else default_overlap(s.tile)
        shape = (count(fh, s.tile, o), count(fw, s.tile, o))
        if ts.source == "map" and (ts.rows, ts.cols) != shape:
            raise UserError(
                f"--tile-styles: the map's grid is {ts.rows}x{ts.cols} but --tile {s.tile} cuts the "
                f"{fw}x{fh} output into {shape[0]}x{shape[1]} tiles; make them agree (or leave out --tile)"
            )
        return shape
    if ts.source == "map":
        return ts.rows, ts.cols
    return max(1, min(DEFAULT_REGIONS, fh // MIN_TILE)), max(1, min(DEFAULT_REGIONS, fw // MIN_TILE))


def run_style(s: StyleSettings) -> dict[str, Any]:
    """Run `train style`; returns what OUT.json holds."""
    t0 = time.perf_counter()
    r = check(s)
    if s.style and s.tile_styles:
        raise UserError("--style and --tile-styles: give one or the other (per-tile styles replace --style)")
    out = Path(s.out)
    ensure_out_dir(out.parent, "--out")
    content_img = read_rgb(s.content, "--content")
    style_imgs = [read_rgb(p, "--style") for p in s.style]
    ts = open_tile_styles(s.tile_styles) if s.tile_styles else None
    if ts is not None:
        style_imgs = [read_rgb(f, "--tile-styles") for f in ts.files]
    device = resolve_device(s.device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model, prep = load_vgg19(s.vgg_weights, s.vgg_preprocess, device, pooling=s.pooling)
    _echo(f"VGG-19 {s.vgg_weights}: {prep.how}")

    h0, w0 = content_img.shape[:2]
    final_long = s.size or (r.scales[-1] if r.scales else max(h0, w0))
    longs = [x for x in r.scales if x < final_long] + [final_long]
    sizes = [fit_long_side((h0, w0), x) for x in longs]
    fh, fw = sizes[-1]
    regions_shape = _region_grid(s, ts, fh, fw) if ts is not None else None
    lum = s.preserve_color == "luminance"
    weights = Weights(
        s.content_weight,
        s.style_weight,
        s.tv_weight,
        dict(zip(r.content_layers, r.content_layer_weights, strict=True)),
        dict(zip(r.style_layers, r.style_layer_weights, strict=True)),
    )
    last = max(LAYERS[n] for n in weights.layers)
    plans, notes = plan(
        sizes,
        tile=s.tile,
        overlap=s.tile_overlap,
        regions=regions_shape,
        max_memory_gib=s.max_memory,
        last=last,
        channels=1 if lum else 3,
        optimizer=s.optimizer,
        history=s.lbfgs_history,
        auto_scales=not r.scales,
    )
    for n in notes:
        _echo(f"--max-memory {s.max_memory:g} GiB: {n}")

    if ts is not None and ts.weights is None:
        ts.rows, ts.cols = regions_shape  # type: ignore[misc]
        ts.weights, ts.choices = _choose_styles(
            model, prep, content_img, style_imgs, ts, s, r.style_layers, plans[-1]
        )
    if ts is not None:
        for d in ts.describe():
            _echo(
                f"tile {d['tile'][0]},{d['tile'][1]}: "
                + ", ".join(f"{k} {v:g}" for k, v in d["styles"].items())
            )

    from tqdm import tqdm

    total_iters = s.iters * len(plans)
    losses: list[dict[str, float]] = []
    bar = tqdm(
        total=total_iters, unit="it", desc="style", disable=not s.progress, file=sys.stderr, leave=False
    )

    def on_eval(ls: dict[str, float]) -> None:
        losses.append(
            {
                "iter": len(losses) + 1,
                **{k: float(f"{ls[k]:.6g}") for k in ("content", "style", "tv", "total")},
            }
        )
        bar.update(1)
        if len(losses) % 10 == 0:
            bar.set_postfix(total=f"{ls['total']:.4g}", style=f"{ls['style']:.3g}")

    gen = torch.Generator().manual_seed(s.seed)
    v: torch.Tensor | None = None
    scales_out = []
    content_t = None
    try:
        for k, p in enumerate(plans):
            content_t = to_tensor(resize(content_img, (p.h, p.w)), device)
            var_content = color.luminance(content_t) if lum else content_t
            style_long = max(MIN_TILE, round(s.style_scale * max(p.h, p.w)))
            piece = None if p.rows * p.cols == 1 else 2 * max(p.h // p.rows, p.w // p.cols)
            targets = []
            for img in style_imgs:
                st = to_tensor(resize(img, fit_long_side(img.shape[:2], style_long)), device)
                if s.preserve_color == "histogram":
                    st = color.match_histogram(st, content_t)
                elif lum:
                    st = color.match_luminance(color.luminance(st), var_content)
                targets.append(style_grams(model, prep, st, r.style_layers, piece))
            regions = region_weights = None
            if ts is not None:
                regions = grid(p.h, p.w, p.rows, p.cols, p.overlap)
                region_weights = ts.weights.to(torch.float64)  # type: ignore[union-attr]
                blend = torch.full((len(style_imgs),), 1.0 / len(style_imgs))
            else:
                blend = torch.tensor(r.style_blend)
            problem = ScaleProblem(
                model, prep, var_content, targets, blend, weights, p, regions, region_weights, seed=s.seed + k
            )
            if v is None:
                v0 = var_content
                if s.init == "noise":
                    noise = torch.rand(var_content.shape, generator=gen).to(device)
                    v0 = r.noise_ratio * noise + (1 - r.noise_ratio) * var_content
            else:
                v0 = F.interpolate(v, size=(p.h, p.w), mode="bilinear", align_corners=False)
            first = len(losses) + 1
            bar.set_description(
                f"style {p.w}x{p.h}" + (f" ({p.rows}x{p.cols} tiles)" if p.rows * p.cols > 1 else "")
            )
            t_scale = time.perf_counter()
            v = optimize(problem, v0, s.iters, s.optimizer, r.lr, p.history, on_eval)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds_scale = round(time.perf_counter() - t_scale, 3)
            scales_out.append({**p.to_dict(), "iters": [first, len(losses)], "seconds": seconds_scale})
    except torch.cuda.OutOfMemoryError:
        raise UserError(
            f"--device {device}: out of GPU memory at {p.w}x{p.h}; give --max-memory GiB (it plans tiles "
            "and scales to fit) or a smaller --tile / --size"
        ) from None
    finally:
        bar.close()
    assert v is not None and content_t is not None
    rgb = color.with_content_color(v, content_t) if lum else v
    image = to_uint8(rgb)
    seconds = time.perf_counter() - t0
    record = {
        "settings": s.to_dict(),
        "resolved": {
            "device": device,
            "size": [fw, fh],
            "content_layers": weights.content_layers,
            "style_layers": weights.style_layers,
            "style_blend": r.style_blend if ts is None else None,
            "lr": r.lr,
            "noise_ratio": r.noise_ratio,
            "vgg_preprocess": prep.mode,
            "vgg_preprocess_reason": prep.how,
        },
        "scales": scales_out,
        "max_memory_plan": notes,
        "tile_styles": ts.describe() if ts is not None else None,
        "seconds": round(seconds, 3),
        "peak_memory_gib": peak_memory_gib(device),
        "losses": losses,
    }
    write_image(image, out)
    atomic_write_json(out.with_suffix(".json"), record)
    first_s, last_s = losses[0]["style"], losses[-1]["style"]
    summary = {"size": f"{fw}x{fh}", "iters": len(losses), "seconds": round(seconds, 1),
               "style_loss": f"{first_s:.3g}->{last_s:.3g}", "out": str(out)}  # fmt: skip
    typer.echo(summary_line("style", summary, list(summary)))
    return record


def _choose_styles(model, prep, content_img, style_imgs, ts: TileStyles, s: StyleSettings, layers, last_plan):  # type: ignore[no-untyped-def]
    """Per-tile style weights (one-hot, the closest by feature statistics) at CHOOSE_SIZE px."""
    long = min(CHOOSE_SIZE, max(last_plan.h, last_plan.w))
    h, w = fit_long_side(content_img.shape[:2], long)
    device = next(model.parameters()).device
    content = to_tensor(resize(content_img, (h, w)), device)
    overlap = round(last_plan.overlap * long / max(last_plan.h, last_plan.w))
    with torch.no_grad():
        tiles = [
            descriptor(model(to_net_input(t.crop(content), prep), layers))
            for t in grid(h, w, ts.rows, ts.cols, overlap)
        ]
        style_long = max(MIN_TILE, round(s.style_scale * long / max(ts.rows, ts.cols)))
        styles = [
            descriptor(
                model(
                    to_net_input(
                        to_tensor(resize(img, fit_long_side(img.shape[:2], style_long)), device), prep
                    ),
                    layers,
                )
            )
            for img in style_imgs
        ]
    return choose(tiles, styles)
