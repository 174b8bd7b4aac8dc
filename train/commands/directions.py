"""`train directions`: a direction in z per tag of a tagger, with its measured effect."""

from __future__ import annotations

from typing import Annotated

import typer


def main(
    ckpt: Annotated[str, typer.Option(help="The DCGAN: a network-snapshot-*.pt or its run directory.")],
    tagger: Annotated[
        str, typer.Option(help="The tagger (`train tagger`): a snapshot or its run directory.")
    ],
    n: Annotated[int, typer.Option(help="Samples generated and scored to find the directions.")] = 20000,
    method: Annotated[
        str, typer.Option(help="mean (top minus bottom mean z) or linear (logistic boundary of the tails).")
    ] = "mean",
    out: Annotated[
        str | None, typer.Option(help="directions.json to write (default: in the --ckpt run directory).")
    ] = None,
    tail: Annotated[float, typer.Option(help="Share of samples in each confident tail.")] = 0.1,
    effect_n: Annotated[
        int, typer.Option(help="Fresh samples on which each direction's effect is measured.")
    ] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    batch: Annotated[int, typer.Option(help="Images per forward pass (0: 32 on the CPU, 256 on a GPU).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Find each tag's direction in z (also a page with the effect matrix and strips of faces)."""
    from train.directions.run import run_directions
    from train.engine.device import resolve_device

    run_directions(ckpt, tagger, n=n, method=method, out=out, tail=tail, effect_n=effect_n, seed=seed,
                   device=resolve_device(device), batch=batch, progress=progress)  # fmt: skip
