"""Machine-readable stage statistics (`_stats.json`) and the one-line end-of-stage summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json

STATS_NAME = "_stats.json"


def write_stats(folder: str | Path, stage: str, stats: dict[str, Any]) -> Path:
    """Write `<folder>/_stats.json` atomically; `stage` is recorded with the figures."""
    path = Path(folder) / STATS_NAME
    atomic_write_json(path, {"stage": stage, **stats})
    return path


def summary_line(stage: str, stats: dict[str, Any], keys: list[str]) -> str:
    """`stage: k1=v1 k2=v2 ...` for the given keys (floats shortened)."""
    parts = []
    for k in keys:
        v = stats.get(k)
        parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    return f"{stage}: " + " ".join(parts)
