"""`train dcgan`: train the 96x96 anime-face DCGAN (or 32/64/128) on face shards."""

from __future__ import annotations

from typing import Annotated

import typer

from prep.errors import UserError


def main(
    ctx: typer.Context,
    shards: Annotated[
        str, typer.Option(help="Face shards from `prep faces` (folder with shards.json).")
    ] = "data/faces",
    out: Annotated[
        str, typer.Option(help="Run directory: options, stats.jsonl, grids, snapshots.")
    ] = "runs/dcgan",
    size: Annotated[int, typer.Option(help="Image size: 32, 64, 96 or 128 (must match the shards).")] = 96,
    kimg: Annotated[
        float, typer.Option(help="Train until this many thousand images have been seen.")
    ] = 1000.0,
    steps: Annotated[int | None, typer.Option(help="Train until this many steps instead of --kimg.")] = None,
    batch: Annotated[int, typer.Option(help="Batch size over all processes.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate of G and D.")] = 2e-4,
    beta1: Annotated[float, typer.Option(help="Adam beta1.")] = 0.5,
    beta2: Annotated[float, typer.Option(help="Adam beta2.")] = 0.999,
    nz: Annotated[int, typer.Option(help="Latent dimensions.")] = 100,
    ngf: Annotated[int, typer.Option(help="Generator width (channels of its last hidden layer).")] = 64,
    ndf: Annotated[int, typer.Option(help="Discriminator width (channels of its first layer).")] = 64,
    loss: Annotated[str, typer.Option(help="GAN loss: bce (non-saturating, with logits) or hinge.")] = "bce",
    d_act: Annotated[str, typer.Option(help="Discriminator activation: lrelu or elu.")] = "lrelu",
    flip: Annotated[bool, typer.Option(help="Random horizontal flips of the real images.")] = True,
    ema_kimg: Annotated[float, typer.Option(help="Half-life of the generator's EMA, in kimg.")] = 10.0,
    tick_kimg: Annotated[float, typer.Option(help="Write a stats line every this many kimg.")] = 4.0,
    snap_kimg: Annotated[float, typer.Option(help="Snapshot, grid and SWD every this many kimg.")] = 50.0,
    keep: Annotated[int, typer.Option(help="Snapshots to keep (0: all).")] = 3,
    grid: Annotated[int, typer.Option(help="Images in reals.png and each fakes grid.")] = 64,
    swd_n: Annotated[
        int, typer.Option(help="Images per side for the sliced Wasserstein distance (0: off).")
    ] = 1024,
    inception: Annotated[
        str | None,
        typer.Option(help="TorchScript Inception weights (e.g. inception-2015-12-05.pt) for FID/KID."),
    ] = None,
    fid_n: Annotated[int, typer.Option(help="Images per side for FID/KID.")] = 5000,
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
    seed: Annotated[int, typer.Option(help="Seed of weights, noise and data order.")] = 0,
    resume: Annotated[
        str | None,
        typer.Option(help="'auto' continues the run in --out; or a snapshot file / run directory."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    debug_nan_step: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Train a DCGAN on face shards; `--resume auto` continues where a run stopped."""
    from train.dcgan import DCGANOptions, train

    params = dict(ctx.params)
    explicit = {k for k in params if _source(ctx, k) == "COMMANDLINE"}
    try:
        train(DCGANOptions(**params), explicit)
    except ValueError as e:  # bad values found deep inside (loader, models) still get one clear line
        raise UserError(str(e)) from e


def _source(ctx: typer.Context, name: str) -> str:
    """Where a parameter's value came from (COMMANDLINE, DEFAULT, ...)."""
    src = ctx.get_parameter_source(name)
    return getattr(src, "name", str(src))
