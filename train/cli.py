"""The `train` command. Torch is imported inside each subcommand, never at start-up."""

from __future__ import annotations

from core.cli import make_app, run_app
from train.commands import (
    colorize,
    dcgan,
    demo,
    directions,
    fast_style,
    pix2pix,
    sample,
    style,
    stylize,
    tagger,
)

app = make_app("train", "Train generators on the shards that `prep` writes.")

app.command("dcgan")(dcgan.main)
app.command("sample")(sample.main)
app.command("pix2pix")(pix2pix.main)
app.command("colorize")(colorize.main)
app.command("tagger")(tagger.main)
app.command("directions")(directions.main)
app.command("demo")(demo.main)
app.command("style")(style.main)
app.command("fast-style")(fast_style.main)
app.command("stylize")(stylize.main)


def main() -> None:
    run_app(app, "train")


if __name__ == "__main__":
    main()
