"""`train pix2pix`: the tag-conditioned line-art colorizer on line-art shards from `prep canny`."""

from __future__ import annotations

from typing import Annotated

import typer

from prep.errors import UserError


def main(
    ctx: typer.Context,
    shards: Annotated[
        str, typer.Option(help="Line-art shards from `prep canny` (folder with shards.json).")
    ] = "data/lineart",
    out: Annotated[
        str, typer.Option(help="Run directory: options, stats.jsonl, grids, snapshots.")
    ] = "runs/pix2pix",
    size: Annotated[int, typer.Option(help="Image size (96: 5-level U-Net; 256: the classic 8).")] = 96,
    tags_mode: Annotated[
        str, typer.Option(help="Tag conditioning: none, plane (tags laid into one extra channel) or embed.")
    ] = "plane",
    hints: Annotated[bool, typer.Option(help="Simulate users' colour hints during training.")] = True,
    vocab: Annotated[
        str | None,
        typer.Option(help="vocab.json of the shards (default: <shards>/vocab.json, ../tags/vocab.json)."),
    ] = None,
    kimg: Annotated[
        float, typer.Option(help="Train until this many thousand images have been seen.")
    ] = 200.0,
    steps: Annotated[int | None, typer.Option(help="Train until this many steps instead of --kimg.")] = None,
    batch: Annotated[int, typer.Option(help="Batch size over all processes.")] = 16,
    lr: Annotated[float, typer.Option(help="Adam learning rate of G and D.")] = 2e-4,
    beta1: Annotated[float, typer.Option(help="Adam beta1.")] = 0.5,
    beta2: Annotated[float, typer.Option(help="Adam beta2.")] = 0.999,
    lambda_l1: Annotated[float, typer.Option(help="Weight of the L1 loss.")] = 100.0,
    decay_kimg: Annotated[
        float | None, typer.Option(help="Linear LR decay over the last N kimg (default: second half).")
    ] = None,
    ngf: Annotated[int, typer.Option(help="Generator width (channels of its first layer).")] = 64,
    ndf: Annotated[int, typer.Option(help="Discriminator width (channels of its first layer).")] = 64,
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
    tick_kimg: Annotated[float, typer.Option(help="Write a stats line every this many kimg.")] = 2.0,
    snap_kimg: Annotated[float, typer.Option(help="Snapshot every this many kimg.")] = 20.0,
    keep: Annotated[int, typer.Option(help="Snapshots to keep (0: all).")] = 3,
    data: Annotated[
        str, typer.Option(help="auto, memory (decode once into device memory) or stream.")
    ] = "auto",
    memory_budget_gb: Annotated[
        float, typer.Option(help="Largest dataset --data auto keeps in memory (0: default).")
    ] = 0.0,
    workers: Annotated[int, typer.Option(help="Data loading processes per rank.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32.")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile G and D.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of weights, augmentation, hints and data order.")] = 0,
    resume: Annotated[
        str | None,
        typer.Option(help="'auto' continues the run in --out; or a snapshot file / run directory."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    debug_nan_step: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Train the line-art colorizer; `--resume auto` continues where a run stopped."""
    from train.pix2pix import Pix2PixOptions, train

    params = dict(ctx.params)
    explicit = {k for k in params if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
    try:
        train(Pix2PixOptions(**params), explicit)
    except ValueError as e:  # bad values found deep inside (loader, models) still get one clear line
        raise UserError(str(e)) from e
