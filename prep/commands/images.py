"""`prep images`: any folder of pictures into content shards (shorter side --size) for a stylizer."""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    src: Path = typer.Option(
        ..., "--src", help="Folder of images, searched recursively (your photos, or data/raw)."
    ),
    out: Path = typer.Option(Path("data/content"), "--out", help="Folder for the content shards."),
    size: int = typer.Option(
        256,
        "--size",
        help="Shorter side of every stored image in pixels; sources under half of it are rejected (too_small).",
    ),
    fmt: str = typer.Option("jpg", "--format", help="jpg (quality 95) or png."),
    shard_size: int = typer.Option(1000, "--shard-size", help="Source images per shard."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (0: one per CPU core)."),
) -> None:
    """Write content-NNNNNN.tar shards of <key>.jpg (or .png) + <key>.json, content.parquet and shards.json.

    Images are resized so their shorter side is --size (area filter when shrinking, bicubic when enlarging, at most 2x; aspect kept, never cropped). Safe to interrupt: run the same command again to resume. Sources are taken in path order, so adding images recomputes the shards from the first one whose images changed.
    """
    from prep.content import run_images, summary

    stats = run_images(src, out, size=size, fmt=fmt, shard_size=shard_size, workers=workers)
    typer.echo(summary(stats, out))
