"""`prep verify`: check shards against shards.json (count, size, md5) and decode every sample."""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    folder: Path = typer.Argument(
        ..., help="Folder of shards with shards.json (faces, lineart, content, ...)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Exit 0 with a one-line OK summary, or exit 1 listing one problem per line."""
    from prep.verify import verify_dir

    report = verify_dir(folder, progress=progress)
    for note in report.notes:
        typer.echo(f"verify: note: {note}", err=True)
    counts = f"shards={report.shards} samples={report.samples}"
    if report.ok:
        typer.echo(f"verify: OK {counts} fields={','.join(report.fields)}")
        return
    for problem in report.problems:
        typer.echo(f"{folder}/{problem}")
    typer.echo(f"verify: FAILED {counts} problems={len(report.problems)}")
    raise typer.Exit(1)
