"""The typer app settings and the error handling that both CLIs (`prep`, `train`) share."""

from __future__ import annotations

import os
import sys

import typer

from core.errors import UserError


def make_app(name: str, help: str) -> typer.Typer:
    """A typer app with the settings both CLIs share (plain errors: run_app prints them)."""
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def run_app(typer_app: typer.Typer, prog: str) -> None:
    """Run a typer app, turning UserError (and Ctrl-C) into one line on stderr and an exit code.

    Set `PREP_DEBUG=1` to see the full traceback instead.
    """
    try:
        typer_app(prog_name=prog)
    except UserError as e:
        if os.environ.get("PREP_DEBUG"):
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
