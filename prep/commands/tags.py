"""`prep tags`: the tag vocabulary of a crawl (`vocab.json`), the basis of every tag vector."""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    src: Path = typer.Option(Path("data/raw"), "--src", help="Crawl folder holding posts.parquet."),
    out: Path = typer.Option(Path("data/tags"), "--out", help="Folder for vocab.json and _stats.json."),
    top: int = typer.Option(1000, "--top", help="Keep at most this many tags, the most frequent."),
    min_count: int = typer.Option(2, "--min-count", help="Keep only tags found in at least this many posts."),
    exclude_meta: bool = typer.Option(
        True, "--exclude-meta/--keep-meta", help="Leave out meta tags (highres, *_commentary, bad_id, ...)."
    ),
) -> None:
    """Count tags over the crawl's ok posts (once per post) and save the top K as vocab.json."""
    from core.stats import summary_line
    from prep.tags import run_tags

    stats = run_tags(src, out, top=top, min_count=min_count, exclude_meta=exclude_meta)
    stats["out"] = str(out / "vocab.json")
    typer.echo(summary_line("tags", stats, ["source_posts", "distinct_tags", "vocab_size", "out"]))
