"""What the sections of `prep report` are given and how they are placed on the page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prep.report.collect import StageData

OK = "ok"  # the status of a manifest row that was not rejected


@dataclass(frozen=True)
class Context:
    """What every section may use: the stages read, the data root, the charts module and the options."""

    stages: dict[str, StageData]
    root: Path
    plots: Any
    seed: int
    n_faces: int
    n_pairs: int
    n_rejected: int
    n_content: int


@dataclass(frozen=True)
class Section:
    """A section of the page: `order` places it (summary 0, rejections 10, ..., parameters 100)."""

    order: int
    anchor: str
    title: str
    body: Callable[[Context], str]
