"""`train dcgan`: train the 96x96 anime-face DCGAN (or 32/64/128) on face shards."""

from __future__ import annotations

from typing import Annotated

import typer

from train.commands import common as c


def main(
    ctx: typer.Context,
    shards: Annotated[
        str, typer.Option(help="Face shards from `prep faces` (folder with shards.json).")
    ] = "data/faces",
    out: c.Out = "runs/dcgan",
    size: Annotated[int, typer.Option(help="Image size: 32, 64, 96 or 128 (must match the shards).")] = 96,
    kimg: c.Kimg = 1000.0,
    steps: c.Steps = None,
    batch: c.Batch = 64,
    lr: c.Lr = 2e-4,
    beta1: c.Beta1 = 0.5,
    beta2: c.Beta2 = 0.999,
    nz: Annotated[int, typer.Option(help="Latent dimensions.")] = 100,
    ngf: Annotated[int, typer.Option(help="Generator width (channels of its last hidden layer).")] = 64,
    ndf: c.Ndf = 64,
    loss: Annotated[str, typer.Option(help="GAN loss: bce (non-saturating, with logits) or hinge.")] = "bce",
    d_act: Annotated[str, typer.Option(help="Discriminator activation: lrelu or elu.")] = "lrelu",
    flip: Annotated[bool, typer.Option(help="Random horizontal flips of the real images.")] = True,
    ema_kimg: Annotated[float, typer.Option(help="Half-life of the generator's EMA, in kimg.")] = 10.0,
    tick_kimg: c.TickKimg = 4.0,
    snap_kimg: Annotated[float, typer.Option(help="Snapshot, grid and SWD every this many kimg.")] = 50.0,
    keep: c.Keep = 3,
    grid: Annotated[int, typer.Option(help="Images in reals.png and each fakes grid.")] = 64,
    swd_n: Annotated[
        int, typer.Option(help="Images per side for the sliced Wasserstein distance (0: off).")
    ] = 1024,
    inception: Annotated[
        str | None,
        typer.Option(help="TorchScript Inception weights (e.g. inception-2015-12-05.pt) for FID/KID."),
    ] = None,
    fid_n: Annotated[int, typer.Option(help="Images per side for FID/KID.")] = 5000,
    data: c.Data = "auto",
    memory_budget_gb: c.MemoryBudgetGb = 0.0,
    workers: c.Workers = 2,
    device: c.Device = "auto",
    precision: c.Precision = "auto",
    compile: c.Compile = False,
    seed: Annotated[int, typer.Option(help="Seed of weights, noise and data order.")] = 0,
    resume: c.Resume = None,
    progress: c.Progress = True,
    debug_nan_step: c.DebugNanStep = None,
) -> None:
    """Train a DCGAN on face shards; `--resume auto` continues where a run stopped."""
    from train.dcgan import DCGANOptions, train

    c.start(ctx, DCGANOptions, train)
