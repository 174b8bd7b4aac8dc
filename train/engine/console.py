"""Console output of a run: the resolved options with non-default values highlighted."""

from __future__ import annotations

from typing import Any

import typer


def print_options(title: str, options: dict[str, Any], defaults: dict[str, Any]) -> None:
    """One `name = value` line per option; values that differ from the default are bold yellow."""
    typer.echo(title)
    width = max((len(k) for k in options), default=0)
    for k in sorted(k for k in options if not k.startswith("debug")):
        v = options[k]
        line = f"  {k:<{width}} = {v!r}"
        if k in defaults and defaults[k] != v:
            typer.secho(line + "   (default " + repr(defaults[k]) + ")", fg=typer.colors.YELLOW, bold=True)
        else:
            typer.echo(line)
