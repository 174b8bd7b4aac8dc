"""Params files and DVC's `${...}` interpolation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from core.errors import UserError

# `${key}`, `${a.b}`, `${a.b[0]}`; `\${...}` stays literal, as in DVC.
_PATTERN = re.compile(r"(\\)?\$\{\s*([^}]*?)\s*\}")
_KEY_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


class Undefined(KeyError):
    """A `${key}` that names nothing in the params."""


def load_params_file(path: Path) -> dict[str, Any]:
    """Read a YAML (or JSON) params file into a dict; a missing file is a UserError."""
    import yaml

    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise UserError(f"{path}: only YAML and JSON params files are supported")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"params file {path} does not exist") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path}: not valid YAML/JSON: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of names to values")
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, recursing into mappings present in both."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def lookup(data: Any, key: str) -> Any:
    """The value at a dotted key such as `crawl.tags` or `sizes[0]`; raises Undefined."""
    parts = _KEY_PART.findall(key)
    if not parts or "".join(parts) != key.replace(".", ""):
        raise Undefined(key)
    cur = data
    for part in parts:
        if part.startswith("["):
            idx = int(part[1:-1])
            if not isinstance(cur, list) or idx >= len(cur):
                raise Undefined(key)
            cur = cur[idx]
        else:
            if not isinstance(cur, dict) or part not in cur:
                raise Undefined(key)
            cur = cur[part]
    return cur


def to_str(value: Any, key: str) -> str:
    """How a value is written into a string (DVC writes booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"${{{key}}} is a {type(value).__name__}, which cannot be written into a string")


def interpolate(value: Any, context: dict[str, Any]) -> Any:
    """Fill `${...}` in every string inside `value`, mapping keys included (as DVC does).

    A string that is exactly one `${key}` takes the value with its type, as DVC does.
    Raises Undefined for an unknown key and ValueError for a list/dict inside a longer string.
    """
    if isinstance(value, dict):
        return {interpolate(k, context): interpolate(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, context) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _PATTERN.fullmatch(value)
    if whole and not whole.group(1):
        return lookup(context, whole.group(2))

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(0)[1:]
        return to_str(lookup(context, m.group(2)), m.group(2))

    return _PATTERN.sub(repl, value)
