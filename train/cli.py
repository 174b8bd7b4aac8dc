"""The `train` command. Torch is imported inside each subcommand, never at start-up."""

from __future__ import annotations

import typer

from prep.cli import run_app
from train.commands import colorize, dcgan, pix2pix, sample

app = typer.Typer(
    name="train",
    help="Train generators on the shards that `prep` writes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("dcgan")(dcgan.main)
app.command("sample")(sample.main)
app.command("pix2pix")(pix2pix.main)
app.command("colorize")(colorize.main)


def main() -> None:
    run_app(app, "train")


if __name__ == "__main__":
    main()
