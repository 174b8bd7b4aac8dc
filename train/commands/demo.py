"""`train demo`: the studio in the browser (tag sliders, pins, colorizer), or its static export."""

from __future__ import annotations

from typing import Annotated

import typer


def main(
    ckpt: Annotated[str, typer.Option(help="The DCGAN: a network-snapshot-*.pt or its run directory.")],
    directions: Annotated[
        str | None,
        typer.Option(
            help="directions.json from `train directions` (default: the one in the --ckpt run directory)."
        ),
    ] = None,
    colorizer: Annotated[
        str | None, typer.Option(help="A pix2pix run (or snapshot) for the colorizer panel.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    export: Annotated[
        str | None,
        typer.Option(
            help="Write a static copy whose generator runs in the browser into this folder, and exit."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
    quiet: Annotated[bool, typer.Option(help="Do not log each request.")] = True,
) -> None:
    """Serve the studio (one slider per tag, shuffle and draw, pinned faces, colorizer) or export it."""
    from train.demo.app import run_demo

    run_demo(ckpt, directions, colorizer, host, port, export, device, quiet)
