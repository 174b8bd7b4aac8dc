"""The options of `train style`, checked (UserError naming the option) and resolved into plain values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
COLORS = ("none", "luminance", "histogram")
POOLINGS = ("max", "avg")
OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}  # Adam's step is in image units (pixel values in [0, 1])
DEFAULT_NOISE_RATIO = 0.6
MIN_TILE = 32


@dataclass
class StyleSettings:
    """Everything `train style` takes; field names are the options' names with `_` for `-`."""

    content: str
    vgg_weights: str
    out: str
    style: list[str] = field(default_factory=list)
    style_blend: str | None = None
    size: int | None = None
    iters: int = 500
    optimizer: str = "lbfgs"
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e-3
    content_layers: str = "relu4_2"
    style_layers: str = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
    content_layer_weights: str | None = None
    style_layer_weights: str | None = None
    init: str = "content"
    noise_ratio: float | None = None
    preserve_color: str = "none"
    scales: str | None = None
    tile: int | None = None
    tile_overlap: int | None = None
    tile_styles: str | None = None
    max_memory: float | None = None
    vgg_preprocess: str = "auto"
    pooling: str = "max"
    style_scale: float = 1.0
    lbfgs_history: int = 100
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise UserError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


def parse_floats(text: str, option: str) -> list[float]:
    """'0.7,0.3' -> [0.7, 0.3]; UserError naming `option` unless every item is a number >= 0."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated numbers, e.g. 0.7,0.3") from None
    if not values or any(v < 0 or v != v for v in values):
        raise UserError(f"{option} {text!r}: expected comma-separated numbers >= 0")
    return values


def parse_ints(text: str, option: str) -> list[int]:
    """'256,512' -> [256, 512]; UserError naming `option` unless every item is a positive integer."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated whole numbers, e.g. 256,512") from None
    if not values or any(v <= 0 for v in values):
        raise UserError(f"{option} {text!r}: expected comma-separated positive numbers")
    return values


def parse_layers(text: str, option: str) -> list[str]:
    """'relu1_1,relu2_1' -> names, each checked against VGG-19's layers."""
    from train.models.vgg import layer_index

    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UserError(f"{option}: give at least one VGG-19 layer, e.g. relu4_2")
    for n in names:
        layer_index(n, option)
    if len(set(names)) != len(names):
        raise UserError(f"{option} {text!r}: a layer is listed twice")
    return names


def layer_weights(text: str | None, layers: list[str], option: str) -> list[float]:
    """Per-layer weights (all 1 when not given); as many as there are layers."""
    if text is None:
        return [1.0] * len(layers)
    values = parse_floats(text, option)
    if len(values) != len(layers):
        raise UserError(f"{option}: {len(values)} weights for {len(layers)} layers; give one per layer")
    return values


@dataclass
class Resolved:
    """Checked, derived values the run uses (besides the raw settings)."""

    content_layers: list[str]
    style_layers: list[str]
    content_layer_weights: list[float]
    style_layer_weights: list[float]
    style_blend: list[float]
    lr: float
    noise_ratio: float
    scales: list[int]


def check(s: StyleSettings) -> Resolved:
    """Every check that needs no file contents; UserError naming the option on the first problem."""
    _choice(s.optimizer, OPTIMIZERS, "--optimizer")
    _choice(s.init, INITS, "--init")
    _choice(s.preserve_color, COLORS, "--preserve-color")
    _choice(s.pooling, POOLINGS, "--pooling")
    from train.models.vgg import PREPROCESS_CHOICES

    _choice(s.vgg_preprocess, PREPROCESS_CHOICES, "--vgg-preprocess")
    if s.iters < 1:
        raise UserError(f"--iters must be at least 1, not {s.iters}")
    if s.size is not None and s.size < MIN_TILE:
        raise UserError(f"--size must be at least {MIN_TILE} px, not {s.size}")
    for name, v in (("--content-weight", s.content_weight), ("--style-weight", s.style_weight),
                    ("--tv-weight", s.tv_weight)):  # fmt: skip
        if not v >= 0:
            raise UserError(f"{name} must be >= 0, not {v}")
    if s.style_scale <= 0:
        raise UserError(f"--style-scale must be > 0, not {s.style_scale}")
    if s.lbfgs_history < 1:
        raise UserError(f"--lbfgs-history must be at least 1, not {s.lbfgs_history}")
    if s.lr is not None and not s.lr > 0:
        raise UserError(f"--lr must be > 0, not {s.lr}")
    if s.noise_ratio is not None and not 0 <= s.noise_ratio <= 1:
        raise UserError(f"--noise-ratio must be between 0 and 1, not {s.noise_ratio}")
    if s.noise_ratio is not None and s.init != "noise":
        raise UserError("--noise-ratio mixes noise into the start image: it needs --init noise")
    if s.max_memory is not None and not s.max_memory > 0:
        raise UserError(f"--max-memory must be a positive number of GiB, not {s.max_memory}")
    if s.tile is not None and s.tile < MIN_TILE:
        raise UserError(f"--tile must be at least {MIN_TILE} px, not {s.tile}")
    if s.tile_overlap is not None:
        if s.tile_overlap < 0:
            raise UserError(f"--tile-overlap must be >= 0, not {s.tile_overlap}")
        if s.tile is None:
            raise UserError("--tile-overlap needs --tile (the tile size in px)")
        if s.tile_overlap >= s.tile:
            raise UserError(
                f"--tile-overlap {s.tile_overlap} must be smaller than --tile {s.tile} (e.g. --tile-overlap {s.tile // 4})"
            )
    if not s.style and not s.tile_styles:
        raise UserError("--style: give a style image (or --tile-styles DIR|MAP.json)")
    if Path(s.out).suffix.lower() not in OUT_SUFFIXES:
        raise UserError(f"--out {s.out}: the file name must end in one of {', '.join(OUT_SUFFIXES)}")
    content_layers = parse_layers(s.content_layers, "--content-layers")
    style_layers = parse_layers(s.style_layers, "--style-layers")
    cw = layer_weights(s.content_layer_weights, content_layers, "--content-layer-weights")
    sw = layer_weights(s.style_layer_weights, style_layers, "--style-layer-weights")
    if s.style_blend is not None:
        blend = parse_floats(s.style_blend, "--style-blend")
        if len(blend) != len(s.style):
            raise UserError(f"--style-blend: {len(blend)} weights for {len(s.style)} --style images")
        if sum(blend) <= 0:
            raise UserError("--style-blend: the weights add up to 0")
    else:
        blend = [1.0] * len(s.style)
    total = sum(blend) or 1.0
    scales = parse_ints(s.scales, "--scales") if s.scales else []
    if scales and scales != sorted(scales):
        raise UserError(f"--scales {s.scales}: list the sizes from coarse to fine, e.g. 256,512")
    if scales and min(scales) < MIN_TILE:
        raise UserError(f"--scales: every size must be at least {MIN_TILE} px")
    if scales and s.size is not None and s.size < scales[-1]:
        raise UserError(f"--size {s.size} is smaller than the last of --scales {s.scales}")
    return Resolved(
        content_layers=content_layers,
        style_layers=style_layers,
        content_layer_weights=cw,
        style_layer_weights=sw,
        style_blend=[b / total for b in blend],
        lr=s.lr if s.lr is not None else DEFAULT_LR[s.optimizer],
        noise_ratio=(s.noise_ratio if s.noise_ratio is not None else DEFAULT_NOISE_RATIO)
        if s.init == "noise"
        else 0.0,
        scales=scales,
    )
