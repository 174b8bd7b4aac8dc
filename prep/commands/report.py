"""`prep report`: a self-contained HTML page about a built dataset (counts, charts, contact sheets)."""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    root: Path = typer.Argument(
        Path("data"),
        metavar="DIR",
        help="Data root holding raw/, tags/, faces/, lineart/, content/ (any may be missing).",
    ),
    out: Path | None = typer.Option(None, "--out", help="HTML page to write (default: DIR/report.html)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the samples shown (contact sheets, rejected rows)."),
    faces: int = typer.Option(64, "--faces", help="Faces on the faces contact sheet."),
    pairs: int = typer.Option(16, "--pairs", help="Line-art pairs on their contact sheet."),
    rejected: int = typer.Option(24, "--rejected", help="Rejected sources listed with thumbnails."),
    content: int = typer.Option(
        16, "--content", help="Content images (`prep images`) on their contact sheet."
    ),
) -> None:
    """Write one HTML page (images inline, nothing loaded from the network) about the dataset in DIR."""
    from prep.report import build_report, summary

    report = build_report(
        root, out, seed=seed, n_faces=faces, n_pairs=pairs, n_rejected=rejected, n_content=content
    )
    typer.echo(summary(report))
