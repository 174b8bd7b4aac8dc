"""The directions page: the effect matrix, the cosines and, per tag, a strip of faces pushed from -2 to +2.

One self-contained HTML file (the strips are embedded as PNG data URIs); the same strips are also
written as PNG files, one per tag.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_write_text
from train.directions import latent
from train.directions.store import Directions

STRIP_VALUES = tuple(np.round(np.linspace(-2, 2, 9), 2).tolist())
STRIP_SEEDS = (1, 2, 3)


def strip_latents(d: Directions, tag: str, seeds: tuple[int, ...] = STRIP_SEEDS,
                  values: tuple[float, ...] = STRIP_VALUES, noise: float = 1.0) -> torch.Tensor:  # fmt: skip
    """[len(seeds) * len(values), nz]: one row per seed, the face pushed along `tag` by each value."""
    i = d.tags.index(tag)
    rows = []
    for seed in seeds:
        start = latent.z0(seed, d.nz, noise)
        for v in values:
            s = np.zeros(len(d.tags), dtype=np.float32)
            s[i] = v
            rows.append(latent.compose(start, d.vectors, s))
    return torch.from_numpy(np.stack(rows))


def safe_name(i: int, tag: str) -> str:
    """A file name for tag number i (tags may hold characters file systems dislike)."""
    return f"{i:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '_', tag)}.png"


def _cell(v: float, scale: float) -> str:
    a = min(1.0, abs(v) / scale) if scale > 0 else 0.0
    colour = f"rgba(40,120,220,{a:.2f})" if v > 0 else f"rgba(220,60,40,{a:.2f})"
    return f'<td style="background:{colour}">{v:+.3f}</td>'


def _matrix(title: str, tags: list[str], m: np.ndarray, note: str) -> str:
    scale = float(np.abs(m).max()) or 1.0
    head = "".join(f"<th>{html.escape(t)}</th>" for t in tags)
    rows = "".join(
        f"<tr><th>{html.escape(t)}</th>{''.join(_cell(float(v), scale) for v in row)}</tr>"
        for t, row in zip(tags, m, strict=True)
    )
    return f"<h2>{title}</h2><p>{note}</p><table><tr><th></th>{head}</tr>{rows}</table>"


def write_page(path: str | Path, d: Directions, strips: dict[str, bytes]) -> Path:
    """Write the HTML page (the effect matrix, cosines, own gains and the strips)."""
    m = d.meta
    tags = d.tags
    effect, cos = np.array(m["effect"]), np.array(m["cosine"])
    gains = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{m['own_gain'][t]:+.3f}</td><td>{'yes' if m['selective'][t] else 'no'}</td>"
        f"<td>{m['norms'][t]:.2f}</td></tr>"
        for t in tags
    )
    strip_html = "".join(
        f'<h3>{html.escape(t)}</h3><img alt="{html.escape(t)} from -2 to +2" '
        f'src="data:image/png;base64,{base64.b64encode(strips[t]).decode()}">'
        for t in tags
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Tag directions</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 4px;text-align:right}} img{{image-rendering:pixelated;max-width:100%}}</style>
</head><body><h1>Tag directions</h1>
<p>Generator <code>{html.escape(str(m.get("ckpt")))}</code>, tagger <code>{html.escape(str(m.get("tagger")))}</code>,
method <b>{html.escape(str(m.get("method")))}</b> on {m.get("n")} samples (tails of {m.get("tail")});
effects measured on {m.get("effect_n")} fresh samples. {m["selective_count"]} of {len(tags)} directions
({100 * m["selective_share"]:.0f}%) raise their own tag's score by more than they move any other tag.</p>
<h2>Own-tag gain per unit</h2><table><tr><th>tag</th><th>gain</th><th>selective</th><th>norm</th></tr>{gains}</table>
{_matrix("Effect matrix", tags, effect, "Row: direction moved by one unit; column: mean change of that tag's score.")}
{_matrix("Cosines between directions", tags, cos, "")}
<h2>Strips</h2><p>Each row one face, pushed along the tag's direction by {", ".join(f"{v:+g}" for v in STRIP_VALUES)}.</p>
{strip_html}</body></html>
"""
    atomic_write_text(path, body)
    return Path(path)
