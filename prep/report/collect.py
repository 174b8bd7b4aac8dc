"""What the stages left under the data root, read for `prep report`: each registered stage's
manifest (or vocabulary) and `_stats.json`, with the problems found noted rather than raised."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from prep.stages import STAGES, StageInfo, resolve

if TYPE_CHECKING:
    import pandas as pd

    from core.vocab import Vocab
    from prep.report.views import StageView


@dataclass
class StageData:
    """What one stage left under the data root (table/vocab None when absent or unreadable)."""

    info: StageInfo
    view: StageView
    folder: Path
    build: str  # the command that (re)builds it, for this data root
    stats: dict[str, Any] | None = None
    table: pd.DataFrame | None = None
    vocab: Vocab | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def present(self) -> bool:
        return self.table is not None or self.vocab is not None


def read_stats(folder: Path, problems: list[str]) -> dict[str, Any] | None:
    """`<folder>/_stats.json` as a dict, None when absent; an unreadable one is noted in `problems`."""
    from core.stats import STATS_NAME

    path = folder / STATS_NAME
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as ex:
        problems.append(f"{path}: unreadable ({ex}); rerun the stage to rewrite it")
        return None
    return obj if isinstance(obj, dict) else None


def load_stage(root: Path, info: StageInfo) -> StageData:
    """Read one stage's manifest (or vocabulary) and _stats.json; problems are noted, not raised."""
    from schemas.validate import SchemaError

    folder = root / info.name
    stage = StageData(info, resolve(info.view)(), folder, info.build.format(root=root))
    if not folder.is_dir():
        return stage
    stage.stats = read_stats(folder, stage.problems)
    path = folder / info.manifest
    if not path.is_file():
        stage.problems.append(
            f"{folder}: exists but holds no {info.manifest} (an interrupted run?); run `{stage.build}`"
        )
        return stage
    try:
        stage.view.read(stage, path)
    except (UserError, SchemaError, OSError, ValueError) as ex:
        stage.problems.append(f"{path}: unreadable ({ex}); rebuild it with `{stage.build}`")
    return stage


def unknown_folders(root: Path) -> list[Path]:
    """Folders under the data root that no registered stage writes (hidden ones aside)."""
    known = {s.name for s in STAGES}
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in known
    )


def collect(root: Path) -> dict[str, StageData]:
    """Every registered stage's outputs under `root` (an optional stage only when its folder exists);
    UserError when `root` holds none of them."""
    folders = ", ".join(f"{s.name}/" for s in STAGES)
    if not root.exists():
        raise UserError(
            f"{root}: no such folder; give the data root (the folder holding {folders}) "
            "or build a dataset first with `prep repro`"
        )
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; give the data root (the folder holding {folders})")
    stages = {
        info.name: load_stage(root, info)
        for info in STAGES
        if not info.optional or (root / info.name).is_dir()
    }
    if not any(s.present for s in stages.values()):
        wanted = ", ".join(f"{s.name}/{s.manifest}" for s in STAGES)
        broken = [p for s in stages.values() if (s.folder / s.info.manifest).is_file() for p in s.problems]
        if broken:
            raise UserError(f"{root}: nothing usable to report on: {broken[-1]}")
        raise UserError(
            f"{root}: no dataset there (none of {wanted}); build one with `prep repro` "
            f"or start with `prep crawl --out {root}/raw`"
        )
    return stages
