"""`prep show`: a contact sheet PNG of shard samples (faces, or line | colour pairs)."""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    folder: Path = typer.Argument(..., help="Folder of shards (faces, lineart, ...)."),
    out: Path = typer.Option(Path("sheet.png"), "--out", help="Contact sheet to write (PNG)."),
    n: int = typer.Option(64, "--n", help="How many samples to show."),
    cols: int = typer.Option(8, "--cols", help="Samples per row."),
    seed: int | None = typer.Option(
        None, "--seed", help="Draw the samples at random with this seed (default: the first n)."
    ),
    labels: bool = typer.Option(False, "--labels/--no-labels", help="Write each sample's key under it."),
    height: int | None = typer.Option(
        None, "--height", help="Tile height in pixels (default: the first sample's)."
    ),
) -> None:
    """Lay out N samples in a grid: faces as they are, line art as line | colour side by side."""
    from prep.contact_sheet import make_sheet

    sheet = make_sheet(folder, out, n=n, cols=cols, seed=seed, labels=labels, height=height)
    h, w = sheet.image.shape[:2]
    typer.echo(f"show: samples={len(sheet.keys)} grid={sheet.cols}x{sheet.rows} size={w}x{h} out={out}")
