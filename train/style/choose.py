"""Per-tile styles (`--tile-styles DIR|MAP.json`).

- DIR: every image in the folder is a candidate; each tile of the unshifted grid gets the one whose
  VGG feature statistics (per-channel mean and standard deviation at the style layers) are closest
  to the tile's content (a grass tile gets the grass-like style, not the cherry blossoms).
- MAP.json: the styles given per tile, as a grid of rows, each cell a file name (relative to the
  JSON's folder) or a blend {"a.png": 0.5, "b.png": 0.5}:

      {"grid": [["sky.png", "sky.png"], ["grass.png", {"grass.png": 0.5, "city.png": 0.5}]]}

Either way the result is a weight per tile and style; tiles blend their styles across overlaps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.errors import UserError
from train.style.imageio import list_images

OPTION = "--tile-styles"


@dataclass
class TileStyles:
    files: list[Path]
    rows: int
    cols: int
    weights: torch.Tensor | None  # (rows * cols) x len(files); None until chosen (DIR)
    source: str  # "dir" or "map"
    choices: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> list[dict[str, Any]]:
        """Per tile: its row, column and style weights by file name (for OUT.json and the console)."""
        assert self.weights is not None
        out = []
        for i, row in enumerate(self.weights.tolist()):
            mix = {self.files[j].name: round(wt, 4) for j, wt in enumerate(row) if wt > 0}
            out.append(
                {
                    "tile": [i // self.cols, i % self.cols],
                    "styles": mix,
                    **(self.choices[i] if self.choices else {}),
                }
            )
        return out


def open_tile_styles(path: str) -> TileStyles:
    """The folder's images (grid decided later), or the map's grid and weights; UserError naming the option."""
    p = Path(path)
    if p.is_dir():
        files = list_images(p)
        if not files:
            raise UserError(f"{OPTION} {p}: the folder has no images (.png, .jpg, .webp, .bmp, .gif)")
        return TileStyles(files, 0, 0, None, "dir")
    if not p.is_file():
        raise UserError(f"{OPTION} {p}: no such folder or file (give a folder of style images or a MAP.json)")
    try:
        spec = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{OPTION} {p}: not a JSON map ({e}); see `train style --help`") from None
    rows = spec.get("grid") if isinstance(spec, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and r for r in rows):
        raise UserError(f'{OPTION} {p}: expected {{"grid": [[style, ...], ...]}} with one row per tile row')
    if len({len(r) for r in rows}) != 1:
        raise UserError(f"{OPTION} {p}: the rows of the grid have different lengths")
    files: list[Path] = []
    cells: list[dict[Path, float]] = []
    for r in rows:
        for cell in r:
            mix = {cell: 1.0} if isinstance(cell, str) else cell
            if not isinstance(mix, dict) or not mix:
                raise UserError(f"{OPTION} {p}: a cell must be a file name or {{file: weight}}, not {cell!r}")
            resolved: dict[Path, float] = {}
            for name, wt in mix.items():
                f = (p.parent / name).resolve()
                if not f.is_file():
                    raise UserError(f"{OPTION} {p}: style image {name!r} not found beside the map")
                if not isinstance(wt, (int, float)) or wt < 0:
                    raise UserError(f"{OPTION} {p}: weight of {name!r} must be a number >= 0")
                resolved[f] = resolved.get(f, 0.0) + float(wt)
                if f not in files:
                    files.append(f)
            if sum(resolved.values()) <= 0:
                raise UserError(f"{OPTION} {p}: a cell's weights add up to 0")
            cells.append(resolved)
    weights = torch.zeros(len(cells), len(files))
    for i, mix in enumerate(cells):
        total = sum(mix.values())
        for f, wt in mix.items():
            weights[i, files.index(f)] = wt / total
    return TileStyles(files, len(rows), len(rows[0]), weights, "map")


def descriptor(feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per layer: per-channel mean and standard deviation of the activations."""
    out = {}
    for n, f in feats.items():
        flat = f[0].flatten(1)
        out[n] = torch.cat([flat.mean(1), flat.std(1, unbiased=False)])
    return out


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Sum over layers of the squared difference, relative to the candidate's own size."""
    return float(sum(((a[n] - b[n]).pow(2).sum() / b[n].pow(2).sum().clamp_min(1e-12)) for n in a))


def choose(
    content_tiles: list[dict[str, torch.Tensor]], style_descriptors: list[dict[str, torch.Tensor]]
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """One-hot weights (tiles x styles) of the closest style per tile, and the distances."""
    weights = torch.zeros(len(content_tiles), len(style_descriptors))
    choices = []
    for i, ct in enumerate(content_tiles):
        d = [distance(ct, sd) for sd in style_descriptors]
        j = min(range(len(d)), key=d.__getitem__)
        weights[i, j] = 1.0
        choices.append({"distances": [round(x, 5) for x in d]})
    return weights, choices
