"""`prep faces`: anime face crops (lbpcascade_animeface) from the raw store into WebDataset shards."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from core.errors import UserError


def main(
    src: Path = typer.Option(Path("data/raw"), "--src", help="The crawl's folder (posts.parquet + images)."),
    out: Path = typer.Option(
        Path("data/faces"), "--out", help="Folder for faces-NNNNNN.tar, faces.parquet, shards.json."
    ),
    size: int = typer.Option(96, "--size", help="Side of the square PNG crops, in pixels."),
    margin: float = typer.Option(
        0.25,
        "--margin",
        help="Grow the detected box by this fraction of its side on each side (then square, clip).",
    ),
    min_face: int = typer.Option(
        64, "--min-face", metavar="PX", help="Skip faces smaller than this (source pixels; 24 or more)."
    ),
    scale_factor: float = typer.Option(1.1, "--scale-factor", help="detectMultiScale's pyramid step."),
    min_neighbors: int = typer.Option(5, "--min-neighbors", help="detectMultiScale's minNeighbors."),
    cascade: Path | None = typer.Option(
        None,
        "--cascade",
        metavar="PATH",
        help="lbpcascade_animeface.xml (else $ANIMEFACE_CASCADE, else the user cache, else downloaded).",
    ),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0: one per CPU core)."),
    shard_size: int = typer.Option(
        1000,
        "--shard-size",
        help="Source images per shard, as img2dataset's number_sample_per_shard (a shard holds their faces).",
    ),
) -> None:
    """Detect faces, crop squares around them and write <key>.png + <key>.json shards (resumable)."""
    from prep.faces import FaceOptions, run_faces, summary

    if workers < 0:
        raise UserError(f"--workers {workers}: use 1 or more, or 0 for one per CPU core")
    n = workers if workers > 0 else (os.cpu_count() or 1)
    opts = FaceOptions(
        size=size, margin=margin, min_face=min_face, scale_factor=scale_factor, min_neighbors=min_neighbors
    )
    stats = run_faces(src, out, opts, cascade=cascade, workers=n, shard_size=shard_size)
    typer.echo(summary(stats))
