"""`prep canny`: pseudo line art (inverted Canny edges) paired with colour images and tag vectors."""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    low: int = typer.Option(100, "--low", help="Canny's lower hysteresis threshold."),
    high: int = typer.Option(200, "--high", help="Canny's upper hysteresis threshold."),
    src: Path = typer.Option(
        Path("data/faces"), "--src", help="Face shards (shards.json / *.tar) or a raw crawl (posts.parquet)."
    ),
    out: Path = typer.Option(Path("data/lineart"), "--out", help="Folder for the line-art shards."),
    size: int | None = typer.Option(
        None,
        "--size",
        help="Square side: raw images are resized (shorter side) and centre-cropped to it (default 256); "
        "face crops keep their size unless given.",
    ),
    invert: bool = typer.Option(
        True, "--invert/--no-invert", help="Black lines on white (default) or white on black."
    ),
    vocab: Path = typer.Option(
        Path("data/tags/vocab.json"), "--vocab", help="Tag vocabulary from `prep tags`."
    ),
    source: str = typer.Option("auto", "--source", help="faces, raw, or auto (from what --src holds)."),
    shard_size: int = typer.Option(
        1000, "--shard-size", help="Raw source: posts per shard (faces: one per input shard)."
    ),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0: one per CPU core)."),
) -> None:
    """Write <key>.color.png, <key>.line.png, <key>.tags.npy and <key>.json shards, lineart.parquet and shards.json."""
    from core.stats import summary_line
    from prep.canny import run_canny

    stats = run_canny(
        src,
        out,
        vocab,
        low=low,
        high=high,
        invert=invert,
        size=size,
        source=source,
        shard_size=shard_size,
        workers=workers,
    )
    keys = ["source", "samples", "rejected", "shards", "chunks_skipped", "samples_per_s", "out"]
    typer.echo(summary_line("canny", {**stats, "out": str(out)}, keys))
