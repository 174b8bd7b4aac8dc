"""The one reader of a crawl's manifest (`<src>/posts.parquet`) for the stages and the report.

Every reader gets the same checks: the folder exists and holds `posts.parquet`, the columns asked
for are there with the types of schemas.crawl.POSTS_SCHEMA. `read_posts` gives the usable posts
(status "ok"), sorted by id, one per id; `read_manifest` the rows as stored, for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import UserError

POSTS_NAME = "posts.parquet"


def manifest_path(src: str | Path, option: str = "--src") -> Path:
    """`<src>/posts.parquet` (or `src` itself when it is a .parquet file); UserError when absent."""
    src = Path(src)
    if src.suffix == ".parquet" and src.is_file():
        return src
    if not src.exists():
        raise UserError(
            f"{option} {src}: no such folder; run `prep crawl --out {src}` first or pass {option}"
        )
    if not src.is_dir():
        raise UserError(f"{option} {src}: not a folder; pass the crawl's output folder")
    path = src / POSTS_NAME
    if not path.is_file():
        raise UserError(f"{option} {src}: no {POSTS_NAME} there; run `prep crawl --out {src}` first")
    return path


def read_manifest(path: str | Path, columns: Sequence[str]) -> Any:
    """The given columns of a crawl manifest file as stored, checked against POSTS_SCHEMA (a pyarrow
    Table); SchemaError when a column is missing or of the wrong type, OSError when unreadable."""
    from prep.manifests import read_columns
    from schemas.crawl import POSTS_SCHEMA

    return read_columns(path, POSTS_SCHEMA, columns)


def read_posts(src: str | Path, columns: Sequence[str], option: str = "--src") -> list[dict[str, Any]]:
    """The crawl's usable posts (status "ok") as dicts of `columns`, sorted by id, one per id.

    UserError (naming `option`) when there is no manifest, it cannot be read, or no post is usable.
    """
    from schemas.crawl import STATUS_OK
    from schemas.validate import SchemaError

    path = manifest_path(src, option)
    wanted = list(dict.fromkeys(["id", *columns, "status"]))
    try:
        table = read_manifest(path, wanted)
    except (SchemaError, OSError) as e:
        raise UserError(
            f"{path}: not a readable crawl manifest ({e}); rerun `prep crawl` or fix {option}"
        ) from None
    rows = [r for r in table.to_pylist() if r["status"] == STATUS_OK]
    if not rows:
        raise UserError(f"{option} {src}: {POSTS_NAME} has no downloaded posts (status ok); nothing to do")
    rows.sort(key=lambda r: r["id"])
    # posts.parquet is unique by id; should it not be, keep one row per post (keys must be unique).
    rows = [r for i, r in enumerate(rows) if i == 0 or r["id"] != rows[i - 1]["id"]]
    return [{c: r[c] for c in columns} for r in rows]
