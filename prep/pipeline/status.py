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
    # The params changes as DVC nests them: {file: {key: state}}, or {file: "new"} for a file never recorded.
    params_by_file: dict[str, dict[str, str] | str] = field(default_factory=dict)

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


def _compare_params(now: dict[str, dict[str, Any]], before: Any) -> dict[str, dict[str, str] | str]:
    """{params file: {key: new/deleted/modified}}; a file the lock has no values for is just "new"."""
    before = before if isinstance(before, dict) else {}
    out: dict[str, dict[str, str] | str] = {}
    for pfile in sorted(set(now) | set(before)):
        if pfile in now and not before.get(pfile):
            out[pfile] = "new"
            continue
        cur, old = now.get(pfile, {}), before.get(pfile) or {}
        keys: dict[str, str] = {}
        for key in sorted(set(cur) | set(old)):
            if key not in old:
                keys[key] = "new"
            elif key not in cur:
                keys[key] = "deleted"
            elif cur[key] != old[key]:
                keys[key] = "modified"
        if keys:
            out[pfile] = keys
    return out


def _flat_params(by_file: dict[str, dict[str, str] | str], now: dict[str, dict[str, Any]]) -> dict[str, str]:
    """`key` (for params.yaml) or `file:key` -> state, as `prep status` lists them."""
    flat: dict[str, str] = {}
    for pfile, keys in by_file.items():
        if isinstance(keys, str):
            keys = dict.fromkeys(now.get(pfile, {}), keys)
        for key, state in keys.items():
            flat[key if pfile == "params.yaml" else f"{pfile}:{key}"] = state
    return flat


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
    ch.params_by_file = _compare_params(stage.params, entry.get("params"))
    ch.params = _flat_params(ch.params_by_file, stage.params)
    ch.outs = _compare(hash_paths(stage, [o.path for o in stage.outs], cache), recorded(entry, "outs"))
    return ch


def dvc_status_json(stage: Stage, ch: StageChanges, frozen: bool = False) -> list[Any]:
    """The stage's value in `dvc status --json` (DVC 3's shape and order); [] when it is up to date.

    A frozen stage reports only its outputs and command, as DVC does. A stage not in the lock reports
    each existing dependency and output as modified, each missing one as deleted and its params files
    as new, which is how DVC words "never ran".
    """
    if ch.never_ran:

        def state(path: str) -> str:
            return "modified" if stage.abspath(path).exists() else "deleted"

        deps: dict[str, Any] = {p: state(p) for p in stage.deps}
        deps.update(dict.fromkeys(stage.params, "new"))
        outs = {o.path: state(o.path) for o in stage.outs}
    else:
        tracked = "not tracked any more"  # DVC compares only what dvc.yaml lists
        deps = {p: s for p, s in ch.deps.items() if s != tracked}
        deps.update(ch.params_by_file)
        outs = {p: s for p, s in ch.outs.items() if s != tracked}
    ret: list[Any] = []
    if deps and not frozen:
        ret.append({"changed deps": deps})
    if outs:
        ret.append({"changed outs": outs})
    if ch.always_changed:
        ret.append("always changed")
    if ch.command:
        ret.append("changed command")
    return ret
