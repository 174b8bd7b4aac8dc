"""`train sample`: image grids and latent interpolation strips from a DCGAN snapshot."""

from __future__ import annotations

from typing import Annotated

import typer


def main(
    ckpt: Annotated[
        str, typer.Option(help="A network-snapshot-*.pt, or a run directory (its latest snapshot).")
    ],
    n: Annotated[int, typer.Option(help="Number of images (with --interpolate: about n, in strips).")] = 64,
    out: Annotated[str, typer.Option(help="PNG file to write.")] = "grid.png",
    seed: Annotated[int, typer.Option(help="Seed of the latent points.")] = 0,
    interpolate: Annotated[
        bool, typer.Option("--interpolate", help="Strips between pairs of latent points.")
    ] = False,
    frames: Annotated[int, typer.Option(help="Images per interpolation strip.")] = 8,
    ema: Annotated[bool, typer.Option(help="Use the EMA generator (--no-ema: the raw one).")] = True,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    tags: Annotated[
        str | None,
        typer.Option(help='Push every sample along tag directions, e.g. "long_hair=+1.5,smile=-0.5".'),
    ] = None,
    directions: Annotated[
        str | None,
        typer.Option(
            help="directions.json from `train directions` (default: the one in the --ckpt run directory)."
        ),
    ] = None,
) -> None:
    """Write a grid of generated images, or interpolation strips (one row per pair of latents)."""
    from train.sample import sample

    path = sample(
        ckpt,
        n=n,
        out=out,
        seed=seed,
        interpolate=interpolate,
        frames=frames,
        ema=ema,
        device=device,
        tags=tags,
        directions=directions,
    )
    typer.echo(f"train sample: wrote {path}")
