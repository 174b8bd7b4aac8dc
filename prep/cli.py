"""The `prep` command: every data stage, from the crawl to shards, and the stage runner.

Each subcommand lives in `prep/commands/<name>.py`, which imports only light modules at the
top so that `prep --help` starts fast; heavy libraries load inside the command that needs them.
"""

from __future__ import annotations

import os
import sys

import typer

from prep.commands import canny, crawl, faces, report, repro, sample_site, show, tags, verify
from prep.errors import UserError


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


app = make_app("prep", "Crawl a booru and turn it into WebDataset shards of faces, tags and line art.")

app.command("crawl")(crawl.main)
app.command("sample-site")(sample_site.main)
app.command("faces")(faces.main)
app.command("tags")(tags.main)
app.command("canny")(canny.main)
app.command("verify")(verify.main)
app.command("show")(show.main)
app.command("report")(report.main)
app.command("repro")(repro.repro)
app.command("status")(repro.status)
app.command("dag")(repro.dag)


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


def main() -> None:
    run_app(app, "prep")


if __name__ == "__main__":
    main()
