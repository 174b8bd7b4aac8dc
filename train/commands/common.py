"""What the training commands share: the run-level CLI options and how a command starts its trainer.

The aliases carry the type and help text; each command gives the default (its trainer's) in its
own signature, so `--help` shows it:

    def main(ctx: typer.Context, ..., keep: Keep = 3, ...) -> None:
        from train.dcgan import DCGANOptions, train
        start(ctx, DCGANOptions, train)

Light module (typer only): imported when the CLI starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from core.errors import UserError

Out = Annotated[str, typer.Option(help="Run directory: options, stats.jsonl, grids, snapshots.")]
Kimg = Annotated[float, typer.Option(help="Train until this many thousand images have been seen.")]
Steps = Annotated[int | None, typer.Option(help="Train until this many steps instead of --kimg.")]
Batch = Annotated[int, typer.Option(help="Batch size over all processes.")]
Lr = Annotated[float, typer.Option(help="Adam learning rate of G and D.")]
Beta1 = Annotated[float, typer.Option(help="Adam beta1.")]
Beta2 = Annotated[float, typer.Option(help="Adam beta2.")]
Ndf = Annotated[int, typer.Option(help="Discriminator width (channels of its first layer).")]
TickKimg = Annotated[float, typer.Option(help="Write a stats line every this many kimg.")]
Keep = Annotated[int, typer.Option(help="Snapshots to keep (0: all).")]
Data = Annotated[str, typer.Option(help="auto, memory (decode once into device memory) or stream.")]
MemoryBudgetGb = Annotated[
    float, typer.Option(help="Largest dataset --data auto keeps in memory (0: default).")
]
Workers = Annotated[int, typer.Option(help="Data loading processes per rank.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Precision = Annotated[str, typer.Option(help="auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32.")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile G and D.")]
Resume = Annotated[
    str | None,
    typer.Option(help="'auto' continues the run in --out; or a snapshot file / run directory."),
]
Progress = Annotated[bool, typer.Option(help="Show a progress bar.")]
DebugNanStep = Annotated[int | None, typer.Option(hidden=True)]


def explicit_options(ctx: typer.Context) -> set[str]:
    """The parameters given on the command line (not defaulted): a resumed run checks them against
    its snapshot."""
    return {k for k in ctx.params if _source(ctx, k) == "COMMANDLINE"}


def _source(ctx: typer.Context, name: str) -> str:
    """Where a parameter's value came from (COMMANDLINE, DEFAULT, ...)."""
    src = ctx.get_parameter_source(name)
    return getattr(src, "name", str(src))


def start(ctx: typer.Context, options: Callable[..., Any], train: Callable[[Any, set[str]], Any]) -> None:
    """Build the trainer's options from the command's parameters and train."""
    try:
        train(options(**ctx.params), explicit_options(ctx))
    except ValueError as e:  # bad values found deep inside (loader, models) still get one clear line
        raise UserError(str(e)) from e
