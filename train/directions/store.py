"""`directions.json`: the tag directions of one generator and their measured effects.

{"format": "booru-gan-directions", "version": 1, "nz": 100, "method": "mean",
 "ckpt": ..., "tagger": ..., "n": 20000, "tail": 0.1,
 "tags": ["blue_hair", ...],                      # order of every matrix below
 "directions": {"blue_hair": [nz floats], ...},   # one unit = the tails' separation along it
 "own_gain": {"blue_hair": 0.31, ...},            # own score gain per unit on fresh samples
 "effect": [[...]],                               # effect[i][j]: tag j's gain per unit of direction i
 "cosine": [[...]], "selective": {...}, "selective_share": 0.8, ...}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_write_json
from core.errors import UserError

FORMAT = "booru-gan-directions"
FILE_NAME = "directions.json"


@dataclass
class Directions:
    tags: list[str]
    vectors: np.ndarray  # [T, nz] float32, row i = direction of tags[i]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nz(self) -> int:
        return int(self.vectors.shape[1])

    def strengths(self, values: dict[str, float]) -> np.ndarray:
        """[T] slider values in tag order from {tag: value} (unknown tags: a UserError naming them)."""
        unknown = sorted(set(values) - set(self.tags))
        if unknown:
            raise UserError(
                f"--tags: no direction for {', '.join(unknown)}; known tags: {', '.join(self.tags)}"
            )
        return np.array([float(values.get(t, 0.0)) for t in self.tags], dtype=np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": 1, "nz": self.nz, **self.meta, "tags": list(self.tags),
            "directions": {t: [round(float(v), 6) for v in row] for t, row in zip(self.tags, self.vectors, strict=True)},
        }  # fmt: skip


def default_path(ckpt: str | Path) -> Path:
    """`<run dir>/directions.json` for a run directory or a snapshot file inside one."""
    p = Path(ckpt)
    return (p if p.is_dir() else p.parent) / FILE_NAME


def save(d: Directions, path: str | Path) -> Path:
    atomic_write_json(path, d.to_json())
    return Path(path)


def load(path: str | Path, nz: int | None = None, option: str = "--directions") -> Directions:
    """Read a directions file; UserError naming `option` when it is missing, malformed or for another nz."""
    p = Path(path)
    if not p.is_file():
        raise UserError(
            f"{option} {p}: no such file; make it with `train directions --ckpt RUN --tagger TAGGER`"
        )
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, not {FORMAT!r}")
        tags = list(doc["tags"])
        vectors = np.array([doc["directions"][t] for t in tags], dtype=np.float32).reshape(len(tags), -1)
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"{option} {p}: not a directions file ({e}); rewrite it with `train directions`"
        ) from e
    if nz is not None and tags and vectors.shape[1] != nz:
        raise UserError(
            f"{option} {p}: directions of a {vectors.shape[1]}-dimensional latent, but this generator's "
            f"is {nz}; run `train directions` for this checkpoint"
        )
    meta = {k: v for k, v in doc.items() if k not in ("format", "version", "nz", "tags", "directions")}
    return Directions(tags, vectors, meta)


def parse_spec(spec: str, option: str = "--tags") -> dict[str, float]:
    """'long_hair=+1.5,smile=-0.5' -> {"long_hair": 1.5, "smile": -0.5}; UserError on a bad item."""
    out: dict[str, float] = {}
    for item in spec.replace(" ", ",").split(","):
        if not item:
            continue
        name, eq, value = item.partition("=")
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not eq or not name or not math.isfinite(v):
            raise UserError(f'{option}: {item!r} is not TAG=NUMBER; write e.g. "long_hair=+1.5,smile=-0.5"')
        out[name] = v
    return out
