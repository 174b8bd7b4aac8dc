"""Run the stages that changed, in dependency order, recording each success in `dvc.lock`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from prep.pipeline.dag import Graph
from prep.pipeline.hashing import HashCache
from prep.pipeline.lock import read_lock, stage_entry, write_lock
from prep.pipeline.spec import Pipeline, Stage
from prep.pipeline.status import StageChanges, hash_paths, stage_changes

CACHE_NAME = Path(".prep") / "hashes.sqlite"


@dataclass
class ReproResult:
    ran: list[str] = field(default_factory=list)  # or, with --dry, would run
    unchanged: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)


def open_cache(pipeline: Pipeline) -> HashCache:
    return HashCache(pipeline.root / CACHE_NAME)


def check_targets(pipeline: Pipeline, targets: list[str]) -> list[str]:
    """Accept `name` or `dvc.yaml:name`; an unknown stage is a UserError listing the known ones."""
    names = []
    for t in targets:
        name = t.split(":", 1)[1] if ":" in t else t
        if name not in pipeline.stages:
            raise UserError(
                f"no stage '{name}' in {pipeline.path.name} (stages: {', '.join(pipeline.stages)})"
            )
        names.append(name)
    return names


def pipeline_status(
    pipeline: Pipeline, targets: list[str] | None = None, cache: HashCache | None = None
) -> dict[str, StageChanges | None]:
    """{stage: changes} for the selected stages (None for a frozen stage), without running anything."""
    graph = Graph(pipeline)
    lock = read_lock(pipeline.lock_path)
    own = cache is None
    cache = cache or open_cache(pipeline)
    try:
        out: dict[str, StageChanges | None] = {}
        for name in graph.select(check_targets(pipeline, targets or [])):
            stage = pipeline.stages[name]
            out[name] = None if stage.frozen else stage_changes(stage, lock.get(name), cache)
        return out
    finally:
        if own:
            cache.close()


def _remove_outs(stage: Stage) -> None:
    for out in stage.outs:
        if out.persist:
            continue
        p = stage.abspath(out.path)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def _stage_env() -> dict[str, str]:
    """The caller's environment, with this interpreter's bin folder first so `prep`/`train` resolve."""
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def _run_commands(stage: Stage, echo: Callable[[str], None]) -> int:
    env = _stage_env()
    for cmd in stage.commands:
        echo(f"> {cmd}")
        sys.stdout.flush()
        rc = subprocess.run(cmd, shell=True, cwd=stage.wdir, env=env).returncode
        if rc != 0:
            return rc if rc > 0 else 128 - rc
    return 0


def reproduce(
    pipeline: Pipeline,
    targets: list[str] | None = None,
    *,
    dry: bool = False,
    force: bool = False,
    single_item: bool = False,
    downstream: bool = False,
    echo: Callable[[str], None] = print,
) -> ReproResult:
    """DVC's `repro`: run each selected stage whose command, deps, params or outs changed.

    A failing command raises UserError carrying its exit code; stages completed before it stay
    in the lock and nothing after it runs.
    """
    graph = Graph(pipeline)
    selected = graph.select(check_targets(pipeline, targets or []), single_item, downstream)
    lock = read_lock(pipeline.lock_path)
    result = ReproResult()
    cache = open_cache(pipeline)
    try:
        for name in selected:
            stage = pipeline.stages[name]
            if stage.frozen:
                echo(f"Stage '{name}' is frozen, skipping")
                result.frozen.append(name)
                continue
            if force:
                reason = "forced"
            elif dry and (ups := [u for u in graph.upstream[name] if u in result.ran]):
                reason = f"upstream stage '{ups[0]}' would run"
            else:
                changes = stage_changes(stage, lock.get(name), cache)
                if not changes:
                    echo(f"Stage '{name}' didn't change, skipping")
                    result.unchanged.append(name)
                    continue
                reason = changes.summary()
            result.ran.append(name)
            if dry:
                echo(f"Would run stage '{name}' ({reason}):")
                for cmd in stage.commands:
                    echo(f"> {cmd}")
                continue
            _run_stage(pipeline, stage, reason, lock, cache, echo)
    finally:
        cache.close()
    return result


def _run_stage(
    pipeline: Pipeline,
    stage: Stage,
    reason: str,
    lock: dict,
    cache: HashCache,
    echo: Callable[[str], None],
) -> None:
    missing = [d for d in stage.deps if not stage.abspath(d).exists()]
    if missing:
        raise UserError(
            f"stage '{stage.name}': dependency '{missing[0]}' does not exist; "
            "run the stage that makes it first (or drop --single-item)"
        )
    echo(f"Running stage '{stage.name}' ({reason}):")
    _remove_outs(stage)
    rc = _run_commands(stage, echo)
    cache.forget()
    if rc != 0:
        raise UserError(
            f"stage '{stage.name}' failed with exit code {rc}; "
            f"{pipeline.lock_path.name} keeps the stages that completed and nothing after it ran",
            exit_code=rc,
        )
    outs = hash_paths(stage, [o.path for o in stage.outs], cache)
    absent = [p for p, info in outs.items() if info is None]
    if absent:
        raise UserError(
            f"stage '{stage.name}' finished but did not create its output '{absent[0]}'; "
            "fix the stage's cmd or its outs in dvc.yaml"
        )
    deps = hash_paths(stage, stage.deps, cache)
    lock[stage.name] = stage_entry(stage.cmd, deps, stage.params, outs)  # type: ignore[arg-type]
    ordered = {n: lock[n] for n in pipeline.stages if n in lock}
    write_lock(pipeline.lock_path, ordered)
    cache.flush()
    echo(f"Updating lock file '{pipeline.lock_path.name}'")
