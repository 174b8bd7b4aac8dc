"""`train colorize`: colour one drawing with a trained pix2pix checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer


def main(
    ckpt: Annotated[
        str, typer.Option(help="A pix2pix snapshot (.pt) or its run directory (latest snapshot).")
    ],
    line: Annotated[
        str,
        typer.Option(
            help="The drawing: any size, with or without alpha, either polarity, or a colour image."
        ),
    ],
    out: Annotated[str, typer.Option(help="Where to write the coloured image (.png or .jpg).")],
    tags: Annotated[str, typer.Option(help='Space-separated tags, e.g. "blue_hair smile".')] = "",
    hints: Annotated[
        str | None,
        typer.Option(
            help="Colour hints of the drawing's size: opaque pixels of an RGBA PNG, or non-white pixels."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown tags are an error, not a warning.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA when there is one), cpu or cuda.")] = "auto",
) -> None:
    """Colour a drawing; says which tags the model does not know."""
    from train.colorize import colorize_file
    from train.engine.device import resolve_device

    result = colorize_file(ckpt, line, out, tags.split(), hints, strict, resolve_device(device))
    for w in result["warnings"]:
        typer.echo(f"colorize: warning: {w}", err=True)
    w, h = result["size"]
    typer.echo(f"colorize: {result['input']}, {w}x{h} -> {result['out']}")
