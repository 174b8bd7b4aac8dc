"""The crawl manifest: `data/raw/posts.parquet`, one row per post seen, unique by id."""

from __future__ import annotations

import pyarrow as pa

# status values besides failure reasons (failures are short snake_case reasons such as
# `http_404`, `not_image`, `truncated`, `corrupt`, `too_large`, `timeout`, `redirect_offsite`).
STATUS_OK = "ok"
STATUS_FILTERED = "filtered"
STATUS_DUPLICATE = "duplicate"
# a body with an image signature that does not decode, twice: no file is kept
STATUS_CORRUPT = "corrupt"

POSTS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("rating", pa.string()),
        pa.field("score", pa.int64()),  # the API sometimes says null
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("source", pa.string()),
        pa.field("md5", pa.string()),  # the API's `hash`/`md5`
        pa.field("file_md5", pa.string()),  # md5 of the bytes we stored
        pa.field("file_size", pa.int64()),
        pa.field("file_url", pa.string()),  # the URL downloaded (original or sample variant)
        pa.field("path", pa.string()),  # relative to the crawl's --out; null unless stored
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("duplicate_of", pa.int64()),  # for status == duplicate: the post whose file we kept
        pa.field("change", pa.int64()),  # the API's last-change timestamp
        # file_md5 == md5 for a stored original (ok, duplicate); null when not comparable
        pa.field("md5_match", pa.bool_()),
    ]
)


def manifest_table(rows: list[dict]) -> pa.Table:
    """posts.parquet's table from row dicts (keys = POSTS_SCHEMA names), validated."""
    from schemas.validate import validate_table

    table = pa.Table.from_pylist(rows, schema=POSTS_SCHEMA)
    return validate_table(table, POSTS_SCHEMA, where="posts.parquet")
