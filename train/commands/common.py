"""What the training commands share: a typer command built from a trainer's options dataclass, and
how a command starts its trainer.

Every option is declared once, as a field of the trainer's options (`train.engine.options.option`:
default, help, flags); `command` turns the fields into the command's options, so `--help` shows
each default from the dataclass:

    main = command(DCGANOptions, "train.dcgan", "Train a DCGAN on face shards; ...")

Light module (typer and the options dataclasses only): imported when the CLI starts.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from core.errors import UserError
from train.engine.options import RunOptions, meta


def command(options: type[Any], module: str, doc: str) -> Callable[..., None]:
    """A typer command with one option per field of `options` (trainer's own fields first), which
    trains with `<module>.train(options, explicit)` (imported only when the command runs)."""
    hints = typing.get_type_hints(options)
    own = list(inspect.get_annotations(options))
    names = [f.name for f in dataclasses.fields(options) if meta(options, f.name).get("cli", True)]
    ordered = [n for n in own if n in names] + [n for n in names if n not in own]
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    for name in ordered:
        m = meta(options, name)
        opt = typer.Option(*(m.get("flags") or ()), help=m.get("help"), hidden=m.get("hidden", False))
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=defaults[name],
                annotation=Annotated[hints[name], opt],
            )
        )

    def main(ctx: typer.Context, **_: Any) -> None:
        start(ctx, options, importlib.import_module(module).train)

    main.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    main.__annotations__ = {p.name: p.annotation for p in params}
    main.__doc__ = doc
    return main


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


def _alias(name: str) -> Any:
    """The type and help of a run-level option, for commands written out by hand (the default stays
    in the command's signature)."""
    hint = typing.get_type_hints(RunOptions)[name]
    m = meta(RunOptions, name)
    return Annotated[
        hint, typer.Option(*(m.get("flags") or ()), help=m["help"], hidden=m.get("hidden", False))
    ]


Out = _alias("out")
Kimg = _alias("kimg")
Steps = _alias("steps")
Batch = _alias("batch")
Lr = _alias("lr")
Beta1 = _alias("beta1")
Beta2 = _alias("beta2")
Ndf = Annotated[int, typer.Option(help="Discriminator width (channels of its first layer).")]
TickKimg = _alias("tick_kimg")
Keep = _alias("keep")
Data = _alias("data")
MemoryBudgetGb = _alias("memory_budget_gb")
Workers = _alias("workers")
Device = _alias("device")
Precision = _alias("precision")
Compile = _alias("compile")
Resume = _alias("resume")
OnChange = _alias("on_change")
Progress = _alias("progress")
DebugNanStep = _alias("debug_nan_step")
