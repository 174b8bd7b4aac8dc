"""`train pix2pix`: the tag-conditioned line-art colorizer on line-art shards from `prep canny`."""

from __future__ import annotations

from typing import Annotated

import typer

from train.commands import common as c


def main(
    ctx: typer.Context,
    shards: Annotated[
        str, typer.Option(help="Line-art shards from `prep canny` (folder with shards.json).")
    ] = "data/lineart",
    out: c.Out = "runs/pix2pix",
    size: Annotated[int, typer.Option(help="Image size (96: 5-level U-Net; 256: the classic 8).")] = 96,
    tags_mode: Annotated[
        str, typer.Option(help="Tag conditioning: none, plane (tags laid into one extra channel) or embed.")
    ] = "plane",
    hints: Annotated[bool, typer.Option(help="Simulate users' colour hints during training.")] = True,
    vocab: Annotated[
        str | None,
        typer.Option(help="vocab.json of the shards (default: <shards>/vocab.json, ../tags/vocab.json)."),
    ] = None,
    kimg: c.Kimg = 200.0,
    steps: c.Steps = None,
    batch: c.Batch = 16,
    lr: c.Lr = 2e-4,
    beta1: c.Beta1 = 0.5,
    beta2: c.Beta2 = 0.999,
    lambda_l1: Annotated[float, typer.Option(help="Weight of the L1 loss.")] = 100.0,
    decay_kimg: Annotated[
        float | None, typer.Option(help="Linear LR decay over the last N kimg (default: second half).")
    ] = None,
    ngf: Annotated[int, typer.Option(help="Generator width (channels of its first layer).")] = 64,
    ndf: c.Ndf = 64,
    d_layers: Annotated[
        int, typer.Option(help="PatchGAN stride-2 blocks: 0 auto (34 px patches to 128 px, then 70 px).")
    ] = 0,
    embed_dim: Annotated[int, typer.Option(help="Channels of the tag projection (--tags-mode embed).")] = 16,
    dropout: Annotated[float, typer.Option(help="Dropout in the innermost decoder blocks.")] = 0.5,
    hint_none: Annotated[float, typer.Option(help="Share of training samples without any hint.")] = 0.5,
    max_hints: Annotated[int, typer.Option(help="Most hint patches per sample.")] = 6,
    jitter: Annotated[
        bool, typer.Option(help="Random translation + flip, the same for line and colour.")
    ] = True,
    val_fraction: Annotated[float, typer.Option(help="Share of posts held out for validation.")] = 0.05,
    val_samples: Annotated[int, typer.Option(help="Most validation samples evaluated.")] = 256,
    val_kimg: Annotated[
        float, typer.Option(help="Validate (metrics, grid, best) every this many kimg.")
    ] = 10.0,
    best_metric: Annotated[
        str, typer.Option(help="Metric for network-best.pt: l1, psnr, ssim, hint_error.")
    ] = "l1",
    grid: Annotated[int, typer.Option(help="Validation samples in each preview grid.")] = 8,
    tick_kimg: c.TickKimg = 2.0,
    snap_kimg: Annotated[float, typer.Option(help="Snapshot every this many kimg.")] = 20.0,
    keep: c.Keep = 3,
    data: c.Data = "auto",
    memory_budget_gb: c.MemoryBudgetGb = 0.0,
    workers: c.Workers = 2,
    device: c.Device = "auto",
    precision: c.Precision = "auto",
    compile: c.Compile = False,
    seed: Annotated[int, typer.Option(help="Seed of weights, augmentation, hints and data order.")] = 0,
    resume: c.Resume = None,
    progress: c.Progress = True,
    debug_nan_step: c.DebugNanStep = None,
) -> None:
    """Train the line-art colorizer; `--resume auto` continues where a run stopped."""
    from train.pix2pix import Pix2PixOptions, train

    c.start(ctx, Pix2PixOptions, train)
