"""`dvc.lock` in DVC's schema 2.0: per stage the cmd, deps, params and outs that last succeeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.errors import UserError
from prep.pipeline.hashing import HashInfo

SCHEMA = "2.0"


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    """The `stages` mapping of a lock file ({} when there is none)."""
    import yaml

    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        raise UserError(f"{path.name} is not valid YAML: delete it and run prep repro again") from None
    if not data:
        return {}
    if not isinstance(data, dict) or str(data.get("schema")) != SCHEMA:
        raise UserError(
            f"{path.name}: expected `schema: '{SCHEMA}'` (DVC 2/3 lock format); delete it to start over"
        )
    stages = data.get("stages") or {}
    if not isinstance(stages, dict):
        raise UserError(
            f"{path.name}: 'stages' must be a mapping; delete {path.name} and rerun `prep repro` to rebuild it"
        )
    return stages


def entry_for(info: HashInfo, path: str) -> dict[str, Any]:
    """One deps/outs item in DVC's order: path, hash, md5, size, nfiles."""
    item: dict[str, Any] = {"path": path, "hash": "md5", "md5": info.md5, "size": info.size}
    if info.nfiles is not None:
        item["nfiles"] = info.nfiles
    return item


def stage_entry(
    cmd: str | list[str],
    deps: dict[str, HashInfo],
    params: dict[str, dict[str, Any]],
    outs: dict[str, HashInfo],
) -> dict[str, Any]:
    """A stage's lock entry; lists sorted by path and params by file and key, as DVC writes them."""
    entry: dict[str, Any] = {"cmd": cmd}
    if deps:
        entry["deps"] = [entry_for(deps[p], p) for p in sorted(deps)]
    if params:
        entry["params"] = {f: {k: params[f][k] for k in sorted(params[f])} for f in sorted(params)}
    if outs:
        entry["outs"] = [entry_for(outs[p], p) for p in sorted(outs)]
    return entry


def write_lock(path: Path, stages: dict[str, dict[str, Any]]) -> None:
    """Write the lock atomically; `stages` is written in the order given."""
    import yaml

    text = yaml.safe_dump(
        {"schema": SCHEMA, "stages": stages},
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    atomic_write_text(path, text)


def recorded(entry: dict[str, Any], key: str) -> dict[str, str]:
    """{path: md5} of an entry's deps or outs."""
    return {str(i.get("path")): str(i.get("md5")) for i in entry.get(key) or [] if isinstance(i, dict)}
