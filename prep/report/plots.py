"""The charts of `prep report`, each drawn with matplotlib and returned as PNG bytes.

Figures are made with `matplotlib.figure.Figure` (the Agg canvas, no pyplot and no GUI backend
state). Import this module only inside a command: it loads matplotlib. The PNGs carry no software or
date metadata, so the same figures give the same bytes (for one matplotlib version).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

DPI = 100
STAGE_COLOURS = {
    "raw": "#4c72b0",
    "tags": "#937860",
    "faces": "#dd8452",
    "lineart": "#55a868",
    "content": "#8172b3",
}
SCATTER_MAX = 20_000  # points drawn in the resolution scatter (a fixed-seed subsample beyond this)


def _subplots(*grid: int, figsize: tuple[float, float], **kw: Any) -> tuple[Any, Any]:
    """pyplot.subplots without pyplot: a constrained-layout Figure and its axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(*grid, **kw)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="both", alpha=0.25, linewidth=0.6)
    ax.set_axisbelow(True)


def rejection_chart(by_stage: Mapping[str, Mapping[str, int]]) -> bytes:
    """Horizontal bars: one per (stage, reason), coloured by stage, longest first within a stage."""
    labels, values, colours = [], [], []
    for stage, reasons in by_stage.items():
        for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            labels.append(f"{stage}: {reason}")
            values.append(n)
            colours.append(STAGE_COLOURS.get(stage, "#777777"))
    fig, ax = _subplots(figsize=(9, 0.9 + 0.32 * max(1, len(labels))))
    y = np.arange(len(labels))
    ax.barh(y, values, color=colours)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    for yi, v in zip(y, values, strict=True):
        ax.annotate(str(v), (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("items rejected")
    _style(ax)
    return _png(fig)


def tag_charts(tags: Sequence[str], counts: Sequence[int], source_posts: int | None, top: int = 50) -> bytes:
    """The `top` most frequent tags (bars) above the distribution of counts over the vocabulary."""
    n = min(top, len(tags))
    fig, (ax1, ax2) = _subplots(2, 1, figsize=(12, 8.5), gridspec_kw={"height_ratios": [3, 2]})
    x = np.arange(n)
    ax1.bar(x, counts[:n], color=STAGE_COLOURS["tags"])
    ax1.set_xticks(x, tags[:n], rotation=75, ha="right", fontsize=8)
    ax1.set_xlim(-0.7, max(n, 1) - 0.3)
    ax1.set_ylabel("posts with the tag")
    ax1.set_title(f"the {n} most frequent tags of the vocabulary ({len(tags)} tags)", fontsize=10)
    if source_posts:
        ax1.axhline(source_posts, color="#999999", linewidth=0.8, linestyle="--")
        ax1.annotate(
            f"all posts ({source_posts})",
            (x[-1] if n else 0, source_posts),
            xytext=(0, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="#666666",
        )
    _style(ax1)
    ax1.grid(axis="x", visible=False)
    c = np.asarray(counts, dtype=float)
    if c.size and c.max() > c.min():
        bins = np.unique(np.geomspace(max(1.0, c.min()), c.max() + 1, num=min(40, int(c.size) + 1)).round())
        ax2.hist(c, bins=bins, color=STAGE_COLOURS["tags"], edgecolor="white", linewidth=0.4)
        ax2.set_xscale("log")
    else:
        ax2.hist(c, bins=1, color=STAGE_COLOURS["tags"])
    ax2.set_xlabel("posts with the tag (log scale)")
    ax2.set_ylabel("tags")
    ax2.set_title("how often the vocabulary's tags occur", fontsize=10)
    _style(ax2)
    return _png(fig)


def face_size_chart(sides: Sequence[int], min_face: int | None, crop_sides: Sequence[int] = ()) -> bytes:
    """Histogram of the detected face boxes' sides (and of the squares cropped around them)."""
    fig, ax = _subplots(figsize=(9, 3.8))
    s = np.asarray(sides, dtype=float)
    crops = np.asarray(crop_sides, dtype=float)
    hi = max(float(s.max()) if s.size else 1.0, float(crops.max()) if crops.size else 1.0)
    lo = min(float(s.min()) if s.size else 0.0, float(min_face or hi))
    bins = np.linspace(lo * 0.95, hi * 1.05 + 1, 41)
    ax.hist(s, bins=bins, color=STAGE_COLOURS["faces"], label=f"detected box side (n={s.size})")
    if crops.size:
        ax.hist(
            crops, bins=bins, histtype="step", color="#333333", linewidth=1.2, label="cropped square side"
        )
    if min_face:
        ax.axvline(min_face, color="#c44e52", linestyle="--", linewidth=1, label=f"--min-face {min_face}")
    ax.set_xlabel("pixels of the source image")
    ax.set_ylabel("faces")
    ax.legend(fontsize=8, frameon=False)
    _style(ax)
    return _png(fig)


def resolution_chart(widths: Sequence[int], heights: Sequence[int], seed: int = 0) -> bytes:
    """Width against height of the sources (scatter) beside the histograms of both."""
    w = np.asarray(widths, dtype=float)
    h = np.asarray(heights, dtype=float)
    fig, (ax1, ax2) = _subplots(1, 2, figsize=(11, 4.2))
    shown = np.arange(w.size)
    if w.size > SCATTER_MAX:
        shown = np.sort(np.random.default_rng(seed).choice(w.size, SCATTER_MAX, replace=False))
    ax1.scatter(w[shown], h[shown], s=6, alpha=0.5, color=STAGE_COLOURS["raw"], linewidths=0)
    top = max(float(w.max()), float(h.max())) * 1.05 if w.size else 1.0
    ax1.plot([0, top], [0, top], color="#999999", linewidth=0.8, linestyle=":")
    ax1.set_xlim(0, top)
    ax1.set_ylim(0, top)
    ax1.set_aspect("equal")
    ax1.set_xlabel("width (px)")
    ax1.set_ylabel("height (px)")
    note = f", {shown.size} of {w.size} drawn" if shown.size < w.size else ""
    ax1.set_title(f"sources (n={w.size}{note})", fontsize=10)
    _style(ax1)
    bins = np.linspace(0, top, 41)
    ax2.hist(w, bins=bins, alpha=0.6, color=STAGE_COLOURS["raw"], label="width")
    ax2.hist(h, bins=bins, alpha=0.6, color=STAGE_COLOURS["faces"], label="height")
    ax2.set_xlabel("pixels")
    ax2.set_ylabel("sources")
    ax2.legend(fontsize=8, frameon=False)
    _style(ax2)
    return _png(fig)
