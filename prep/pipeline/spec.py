"""Parse and validate `dvc.yaml` (DVC's multi-stage schema) into resolved Stage objects."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from prep.pipeline.params import Undefined, deep_merge, interpolate, load_params_file, lookup

DEFAULT_PARAMS = "params.yaml"
TOP_KEYS = {"stages", "vars", "params", "metrics", "plots", "artifacts", "datasets"}
STAGE_KEYS = {
    "cmd", "wdir", "deps", "params", "outs", "metrics", "plots",
    "frozen", "always_changed", "desc", "meta", "vars",
}  # fmt: skip
UNSUPPORTED_STAGE_KEYS = {"foreach", "do", "matrix"}
OUT_KEYS = {"cache", "persist", "checkpoint", "remote", "push", "desc", "type", "labels", "meta"}
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_][\w.-]*$")


class SpecError(UserError):
    """A mistake in the stage file: the message names the file, the stage and what is wrong."""


@dataclass(frozen=True)
class Out:
    """One output (`outs`, `metrics` or `plots` entry)."""

    path: str
    persist: bool = False
    cache: bool = True


@dataclass
class Stage:
    """One stage with every `${...}` filled in; paths are as written, relative to `wdir`."""

    name: str
    cmd: str | list[str]
    wdir: Path
    deps: list[str] = field(default_factory=list)
    outs: list[Out] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> {key: value}
    frozen: bool = False
    always_changed: bool = False
    desc: str = ""

    @property
    def commands(self) -> list[str]:
        return [self.cmd] if isinstance(self.cmd, str) else list(self.cmd)

    def abspath(self, path: str) -> Path:
        return Path(os.path.normpath(self.wdir / path))


@dataclass
class Pipeline:
    """The stages of one `dvc.yaml`, in file order."""

    path: Path
    stages: dict[str, Stage]

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        return self.root / "dvc.lock"


class _Params:
    """Loads params files once; `override` is merged over `<root>/params.yaml` (`--params`)."""

    def __init__(self, root: Path, override: Path | None) -> None:
        self.root = root
        self.override = override
        self._cache: dict[Path, dict[str, Any]] = {}

    def load(self, path: Path) -> dict[str, Any]:
        path = Path(os.path.normpath(path))
        if path not in self._cache:
            default = path == self.root / DEFAULT_PARAMS
            if default and self.override is not None:
                base = load_params_file(path) if path.exists() else {}
                self._cache[path] = deep_merge(base, load_params_file(self.override))
            else:
                self._cache[path] = load_params_file(path)
        return self._cache[path]

    def exists(self, path: Path) -> bool:
        return path.exists() or (path == self.root / DEFAULT_PARAMS and self.override is not None)


def _err(file: Path, stage: str | None, msg: str) -> SpecError:
    where = f"{file.name}: stage '{stage}': " if stage else f"{file.name}: "
    return SpecError(where + msg)


def _vars_context(entries: Any, base: Path, params: _Params, file: Path, stage: str | None) -> dict[str, Any]:
    """Merge a `vars` list (files, `file:key1,key2`, or mappings) into one dict."""
    if not isinstance(entries, list):
        raise _err(file, stage, "'vars' must be a list of files or mappings")
    ctx: dict[str, Any] = {}
    for entry in entries:
        if isinstance(entry, dict):
            ctx = deep_merge(ctx, entry)
        elif isinstance(entry, str):
            name, _, keys = entry.partition(":")
            path = base / name
            if not params.exists(path):
                raise _err(file, stage, f"vars file '{name}' does not exist")
            data = params.load(path)
            if keys:
                try:
                    data = {k: lookup(data, k) for k in keys.split(",")}
                except Undefined as e:
                    raise _err(file, stage, f"'{e.args[0]}' is not defined in vars file '{name}'") from None
            ctx = deep_merge(ctx, data)
        else:
            raise _err(file, stage, f"'vars' entries must be file names or mappings, not {entry!r}")
    return ctx


def _path_list(value: Any, key: str, file: Path, stage: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(file, stage, f"'{key}' must be a list")
    return value


def _check_path(p: Any, key: str, file: Path, stage: str) -> str:
    if not isinstance(p, str) or not p.strip():
        raise _err(file, stage, f"'{key}' entries must be non-empty paths, not {p!r}")
    if os.path.isabs(p):
        raise _err(file, stage, f"{key} path '{p}' must be relative to the stage's directory")
    return posixpath.normpath(p)


def _parse_outs(raw: dict[str, Any], file: Path, stage: str) -> list[Out]:
    outs: list[Out] = []
    for key in ("outs", "metrics", "plots"):
        for entry in _path_list(raw.get(key), key, file, stage):
            if isinstance(entry, dict):
                if len(entry) != 1:
                    raise _err(file, stage, f"each '{key}' mapping must hold exactly one path")
                ((path, opts),) = entry.items()
                opts = opts or {}
                if not isinstance(opts, dict):
                    raise _err(file, stage, f"the options of {key} '{path}' must be a mapping")
                unknown = sorted(
                    set(opts)
                    - OUT_KEYS
                    - (
                        {"x", "y", "template", "title", "header", "x_label", "y_label"}
                        if key == "plots"
                        else set()
                    )
                )
                if unknown:
                    raise _err(
                        file,
                        stage,
                        f"{key} '{path}': unknown key '{unknown[0]}' (allowed: {', '.join(sorted(OUT_KEYS))})",
                    )
                for flag in ("persist", "cache"):
                    if flag in opts and not isinstance(opts[flag], bool):
                        raise _err(file, stage, f"{key} '{path}': '{flag}' must be true or false")
                p = _check_path(path, key, file, stage)
                outs.append(Out(p, persist=opts.get("persist", False), cache=opts.get("cache", True)))
            else:
                outs.append(Out(_check_path(entry, key, file, stage)))
    return outs


def _parse_params(raw: Any, wdir: Path, params: _Params, file: Path, stage: str) -> dict[str, dict[str, Any]]:
    """`params:` entries -> {file: {key: current value}}; a bare key means params.yaml."""
    wanted: dict[str, list[str] | None] = {}
    for entry in _path_list(raw, "params", file, stage):
        if isinstance(entry, str):
            keys = wanted.setdefault(DEFAULT_PARAMS, [])
            if keys is not None:
                keys.append(entry)
        elif isinstance(entry, dict):
            for pfile, keys in entry.items():
                if keys is None or keys == []:
                    wanted[str(pfile)] = None  # the whole file
                elif isinstance(keys, list) and all(isinstance(k, str) for k in keys):
                    current = wanted.setdefault(str(pfile), [])
                    if current is not None:
                        current.extend(keys)
                else:
                    raise _err(file, stage, f"params of '{pfile}' must be a list of key names")
        else:
            raise _err(file, stage, f"'params' entries must be key names or {{file: [keys]}}, not {entry!r}")
    out: dict[str, dict[str, Any]] = {}
    for pfile, keys in wanted.items():
        path = wdir / pfile
        if not params.exists(path):
            raise _err(file, stage, f"params file '{pfile}' does not exist")
        data = params.load(path)
        if keys is None:
            out[pfile] = dict(data)
            continue
        values: dict[str, Any] = {}
        for k in keys:
            try:
                values[k] = lookup(data, k)
            except Undefined:
                raise _err(file, stage, f"param '{k}' is not defined in '{pfile}'") from None
        out[pfile] = values
    return out


def _parse_stage(name: str, raw: Any, file: Path, params: _Params, top_ctx: dict[str, Any]) -> Stage:
    if not isinstance(name, str) or not _STAGE_NAME.match(name):
        raise _err(file, None, f"invalid stage name {name!r} (use letters, digits, '_', '-', '.')")
    if not isinstance(raw, dict):
        raise _err(file, name, "a stage must be a mapping with at least 'cmd'")
    for key in raw:
        if key in UNSUPPORTED_STAGE_KEYS:
            raise _err(
                file, name, f"'{key}' is valid DVC but not supported by prep repro; write the stages out"
            )
        if key not in STAGE_KEYS:
            raise _err(file, name, f"unknown key '{key}' (allowed: {', '.join(sorted(STAGE_KEYS))})")
    if "cmd" not in raw:
        raise _err(file, name, "missing 'cmd'")
    ctx = top_ctx
    if "vars" in raw:
        ctx = deep_merge(ctx, _vars_context(raw["vars"], file.parent, params, file, name))
    try:
        res = interpolate({k: v for k, v in raw.items() if k != "vars"}, ctx)
    except Undefined as e:
        raise _err(
            file, name, f"${{{e.args[0]}}} is not defined (params.yaml and vars hold no such key)"
        ) from None
    except ValueError as e:
        raise _err(file, name, str(e)) from None
    cmd = res["cmd"]
    if isinstance(cmd, list):
        if not cmd or not all(isinstance(c, str) and c.strip() for c in cmd):
            raise _err(file, name, "'cmd' must be a command or a non-empty list of commands")
    elif not isinstance(cmd, str) or not cmd.strip():
        raise _err(file, name, "'cmd' must be a non-empty command")
    for flag in ("frozen", "always_changed"):
        if flag in res and not isinstance(res[flag], bool):
            raise _err(file, name, f"'{flag}' must be true or false")
    wdir_raw = res.get("wdir", ".")
    if not isinstance(wdir_raw, str):
        raise _err(file, name, "'wdir' must be a path")
    wdir = Path(os.path.normpath(file.parent / wdir_raw))
    deps = [_check_path(d, "deps", file, name) for d in _path_list(res.get("deps"), "deps", file, name)]
    return Stage(
        name=name,
        cmd=cmd,
        wdir=wdir,
        deps=deps,
        outs=_parse_outs(res, file, name),
        params=_parse_params(res.get("params"), wdir, params, file, name),
        frozen=res.get("frozen", False),
        always_changed=res.get("always_changed", False),
        desc=str(res.get("desc", "")),
    )


def _check_outputs(pipeline: Pipeline) -> None:
    """Two outputs may not be the same path, nor one inside the other."""
    seen: list[tuple[Path, str, str]] = []
    for stage in pipeline.stages.values():
        for out in stage.outs:
            p = stage.abspath(out.path)
            for q, other, qname in seen:
                if p == q:
                    if other == stage.name:
                        raise _err(pipeline.path, stage.name, f"output '{out.path}' is listed twice")
                    raise _err(
                        pipeline.path, stage.name, f"output '{out.path}' is also written by stage '{other}'"
                    )
                if p.is_relative_to(q) or q.is_relative_to(p):
                    raise _err(
                        pipeline.path,
                        stage.name,
                        f"output '{out.path}' overlaps output '{qname}' of stage '{other}'",
                    )
            seen.append((p, stage.name, out.path))


def load_pipeline(path: str | Path = "dvc.yaml", params_override: str | Path | None = None) -> Pipeline:
    """Read, interpolate and validate a `dvc.yaml`; every mistake is a SpecError naming the stage."""
    import yaml

    path = Path(os.path.abspath(path))
    if not path.is_file():
        raise UserError(f"{path.name} not found in {path.parent}: run this from the project's root")
    override = Path(os.path.abspath(params_override)) if params_override is not None else None
    if override is not None and not override.is_file():
        raise UserError(f"--params: file {params_override} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise _err(path, None, f"not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), dict) or not raw["stages"]:
        raise _err(path, None, "expected a mapping with a non-empty 'stages' mapping")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _err(
            path, None, f"unknown top-level key '{unknown[0]}' (allowed: {', '.join(sorted(TOP_KEYS))})"
        )
    params = _Params(path.parent, override)
    ctx: dict[str, Any] = {}
    if params.exists(path.parent / DEFAULT_PARAMS):
        ctx = params.load(path.parent / DEFAULT_PARAMS)
    if "vars" in raw:
        ctx = deep_merge(ctx, _vars_context(raw["vars"], path.parent, params, path, None))
    stages = {name: _parse_stage(name, body, path, params, ctx) for name, body in raw["stages"].items()}
    pipeline = Pipeline(path=path, stages=stages)
    _check_outputs(pipeline)
    return pipeline
