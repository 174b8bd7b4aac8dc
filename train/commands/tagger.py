"""`train tagger`: a multi-label tag classifier on face shards (for `train directions`)."""

from __future__ import annotations

from typing import Annotated

import typer

from train.commands import common as c


def main(
    ctx: typer.Context,
    shards: Annotated[
        str, typer.Option(help="Face shards from `prep faces` (their JSON holds the post's tags).")
    ] = "data/faces",
    out: c.Out = "runs/tagger",
    tags: Annotated[int, typer.Option(help="How many of the most frequent tags to learn (at most).")] = 32,
    min_positives: Annotated[
        int, typer.Option(help="A tag is learnt only with this many training faces with it and without it.")
    ] = 10,
    width: Annotated[int, typer.Option(help="Channels of the first convolution (doubling, up to 8x).")] = 32,
    val_fraction: Annotated[
        float, typer.Option(help="Share of the posts held out for average precision per tag.")
    ] = 0.1,
    mixup: Annotated[
        bool,
        typer.Option(help="Train on blends of two faces with blended labels (calibrates scores on blends)."),
    ] = True,
    kimg: c.Kimg = 100.0,
    steps: c.Steps = None,
    batch: c.Batch = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    beta1: c.Beta1 = 0.9,
    beta2: c.Beta2 = 0.999,
    tick_kimg: c.TickKimg = 2.0,
    snap_kimg: Annotated[
        float, typer.Option(help="Snapshot and held-out average precision every this many kimg.")
    ] = 10.0,
    keep: c.Keep = 3,
    workers: Annotated[int, typer.Option(help="Processes decoding the shards into memory.")] = 2,
    device: c.Device = "auto",
    seed: Annotated[int, typer.Option(help="Seed of weights and data order.")] = 0,
    resume: c.Resume = None,
    progress: c.Progress = True,
    debug_nan_step: c.DebugNanStep = None,
) -> None:
    """Train a tag classifier on face crops and their post tags (decoded once into memory); held-out AP
    per tag in stats.jsonl."""
    from train.tagger import TaggerOptions, train

    c.start(ctx, TaggerOptions, train)
