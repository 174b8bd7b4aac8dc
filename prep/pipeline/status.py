"""What changed in a stage since its lock entry, grouped the way `dvc status` reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prep.pipeline.hashing import HashCache, HashInfo
from prep.pipeline.lock import recorded
from prep.pipeline.spec import Stage


@dataclass
class StageChanges:
    """Why a stage must run; empty when it is up to date."""

    never_ran: bool = False
    always_changed: bool = False
    command: bool = False
    deps: dict[str, str] = field(default_factory=dict)  # path -> modified/deleted/new
    params: dict[str, str] = field(default_factory=dict)  # "file:key" or key -> modified/deleted/new
    outs: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.never_ran or self.always_changed or self.command or self.deps or self.params or self.outs
        )

    def summary(self) -> str:
        """A short reason for `prep repro`: `changed deps: data/raw; changed params: faces.size`."""
        parts = []
        if self.never_ran:
            parts.append("not in dvc.lock yet")
        if self.always_changed:
            parts.append("always changed")
        if self.command:
            parts.append("changed command")
        for label, items in (("deps", self.deps), ("params", self.params), ("outs", self.outs)):
            if items:
                parts.append(f"{label}: " + ", ".join(f"{v} {k}" for k, v in items.items()))
        return "; ".join(parts)

    def report(self) -> list[str]:
        """Lines indented as `dvc status` prints them under the stage name."""
        lines = []
        if self.never_ran:
            lines.append("\tnot in dvc.lock yet")
        if self.always_changed:
            lines.append("\talways changed")
        for label, items in (("deps", self.deps), ("params", self.params), ("outs", self.outs)):
            if items:
                lines.append(f"\tchanged {label}:")
                lines += [f"\t\t{state + ':':<20}{path}" for path, state in items.items()]
        if self.command:
            lines.append("\tchanged command")
        return lines


def _compare(now: dict[str, HashInfo | None], before: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, info in now.items():
        if info is None:
            out[path] = "deleted"
        elif path not in before:
            out[path] = "new"
        elif info.md5 != before[path]:
            out[path] = "modified"
    for path in before:
        if path not in now:
            out[path] = "not tracked any more"
    return out


def _compare_params(now: dict[str, dict[str, Any]], before: Any) -> dict[str, str]:
    before = before if isinstance(before, dict) else {}
    out: dict[str, str] = {}
    for pfile in sorted(set(now) | set(before)):
        cur, old = now.get(pfile, {}), before.get(pfile) or {}
        for key in sorted(set(cur) | set(old)):
            label = key if pfile == "params.yaml" else f"{pfile}:{key}"
            if key not in old:
                out[label] = "new"
            elif key not in cur:
                out[label] = "deleted"
            elif cur[key] != old[key]:
                out[label] = "modified"
    return out


def hash_paths(stage: Stage, paths: list[str], cache: HashCache) -> dict[str, HashInfo | None]:
    return {p: cache.hash_path(stage.abspath(p)) for p in paths}


def stage_changes(stage: Stage, entry: dict[str, Any] | None, cache: HashCache) -> StageChanges:
    """Compare a stage with its lock entry: command, deps' and outs' md5s, params' values."""
    ch = StageChanges()
    if stage.always_changed:
        ch.always_changed = True
    if not entry:
        ch.never_ran = True
        return ch
    ch.command = entry.get("cmd") != stage.cmd
    ch.deps = _compare(hash_paths(stage, stage.deps, cache), recorded(entry, "deps"))
    ch.params = _compare_params(stage.params, entry.get("params"))
    ch.outs = _compare(hash_paths(stage, [o.path for o in stage.outs], cache), recorded(entry, "outs"))
    return ch
