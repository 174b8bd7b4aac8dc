"""`prep repro`, `prep status`, `prep dag`: run the pipeline in `dvc.yaml` the way DVC does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from core.errors import UserError

StagesArg = Annotated[
    list[str] | None, typer.Argument(help="Stages to run (default: all), with the stages they depend on.")
]
ParamsOpt = Annotated[
    Path | None,
    typer.Option(
        "--params",
        envvar="PREP_PARAMS",
        help="A YAML file merged over params.yaml (e.g. params-sample.yaml). Not a DVC option.",
    ),
]


def _load(params: Path | None):
    from prep.pipeline.spec import load_pipeline

    return load_pipeline(Path.cwd() / "dvc.yaml", params)


def repro(
    stages: StagesArg = None,
    dry: Annotated[bool, typer.Option("--dry", help="Print what would run; run nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Run the selected stages even if nothing changed.")
    ] = False,
    single_item: Annotated[
        bool, typer.Option("--single-item", "-s", help="Run only the named stages, not their upstream.")
    ] = False,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Run the named stages and every stage after them.")
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Run every stage whose command, dependencies, params or outputs changed, in dependency order."""
    from prep.pipeline.runner import reproduce

    if (single_item or downstream) and not stages:
        raise UserError("--single-item and --downstream need at least one STAGE")
    pipeline = _load(params)
    res = reproduce(
        pipeline, stages or [], dry=dry, force=force, single_item=single_item, downstream=downstream
    )
    skipped = len(res.unchanged) + len(res.frozen)
    if not res.ran:
        print("Data and pipelines are up to date.")
    elif dry:
        print(f"Dry run: {len(res.ran)} stage(s) would run ({', '.join(res.ran)}); {skipped} skipped.")
    else:
        print(f"Ran {len(res.ran)} stage(s) ({', '.join(res.ran)}); {skipped} skipped; dvc.lock updated.")


def status(
    stages: StagesArg = None,
    params: ParamsOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing; exit 1 if any stage changed.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print what `dvc status --json` prints: {stage: [changes]}, {} if none."),
    ] = False,
) -> None:
    """Show which stages changed since they last ran (like `dvc status`)."""
    from prep.pipeline.runner import open_cache, pipeline_status

    pipeline = _load(params)
    cache = open_cache(pipeline)
    try:
        result = pipeline_status(pipeline, stages or [], cache)
        if as_json:
            print(json.dumps(_dvc_json(pipeline, result, cache)))
            return
    finally:
        cache.close()
    changed = {n: c for n, c in result.items() if c}
    if quiet:
        raise typer.Exit(1 if changed else 0)
    for name, ch in result.items():
        if ch is None:
            print(f"{name}: frozen")
        elif ch:
            print(f"{name}:")
            print("\n".join(ch.report()))
    if not changed:
        print("Data and pipelines are up to date.")
    print(f"(hashed {cache.misses} file(s), {cache.hits} from the cache)")


def _dvc_json(pipeline, result: dict, cache) -> dict[str, list]:
    """`dvc status --json`'s object for the stages in `result` (frozen ones are None there)."""
    from prep.pipeline.lock import read_lock
    from prep.pipeline.status import dvc_status_json, stage_changes

    lock = read_lock(pipeline.lock_path)
    out = {}
    for name, ch in result.items():
        stage = pipeline.stages[name]
        if ch is None:  # frozen: DVC still reports its outputs
            ch = stage_changes(stage, lock.get(name), cache)
        entry = dvc_status_json(stage, ch, frozen=stage.frozen)
        if entry:
            out[name] = entry
    return out


def dag(
    dot: Annotated[bool, typer.Option("--dot", help="Print the graph in Graphviz DOT.")] = False,
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print the graph as a Mermaid flowchart.")
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Print the stages in dependency order with the stages each one depends on."""
    from prep.pipeline.dag import Graph

    graph = Graph(_load(params))
    if dot:
        print(graph.render_dot())
    elif mermaid:
        print(graph.render_mermaid())
    else:
        print(graph.render_text())
