"""The registry of data stages: every stage is declared here once, and `prep report` and `prep verify`
iterate over it (a folder no stage writes is named as such, never silently skipped).

A declaration says where the stage writes under the data root, which command builds it, the
manifest that shows it is there and its schema, its shards' prefix and sample JSON spec (what
`prep verify` checks), and the report view that draws its sections. Schemas and views are named as
`"module:attribute"` and imported only when used, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StageInfo:
    """One data stage."""

    name: str  # the folder it writes under the data root, and its key in the report
    command: str  # the `prep` subcommand that builds it
    build: str  # the command line that builds it; `{root}` stands for the data root
    manifest: str  # the file whose presence shows the stage is there
    stats_stage: str  # the `stage` its _stats.json records
    schema: str | None = None  # "module:NAME" of the manifest's pyarrow schema (None: not a parquet)
    sample: str | None = None  # "module:NAME" of its samples' `<key>.json` spec
    shard_prefix: str | None = None  # its shards' prefix (and `name` in shards.json); None: no shards
    view: str = ""  # "module:Class" of its report view (prep/report/views.py)
    optional: bool = False  # not part of the booru chain: the report mentions it only when its folder exists


STAGES: tuple[StageInfo, ...] = (
    StageInfo(
        "raw",
        "crawl",
        "prep crawl --out {root}/raw",
        "posts.parquet",
        "crawl",
        schema="schemas.crawl:POSTS_SCHEMA",
        view="prep.report.views:RawView",
    ),
    StageInfo(
        "tags",
        "tags",
        "prep tags --src {root}/raw --out {root}/tags",
        "vocab.json",
        "tags",
        view="prep.report.views:TagsView",
    ),
    StageInfo(
        "faces",
        "faces",
        "prep faces --src {root}/raw --out {root}/faces",
        "faces.parquet",
        "faces",
        schema="schemas.faces:FACES_SCHEMA",
        sample="schemas.faces:FACE_SAMPLE",
        shard_prefix="faces",
        view="prep.report.views:FacesView",
    ),
    StageInfo(
        "lineart",
        "canny",
        "prep canny --src {root}/faces --out {root}/lineart --vocab {root}/tags/vocab.json",
        "lineart.parquet",
        "canny",
        schema="schemas.lineart:LINEART_SCHEMA",
        sample="schemas.lineart:LINEART_SAMPLE",
        shard_prefix="lineart",
        view="prep.report.views:LineartView",
    ),
    StageInfo(
        "content",
        "images",
        "prep images --src {root}/raw --out {root}/content",
        "content.parquet",
        "images",
        schema="schemas.content:CONTENT_SCHEMA",
        sample="schemas.content:CONTENT_SAMPLE",
        shard_prefix="content",
        view="prep.report.views:ContentView",
        optional=True,
    ),
)


def resolve(ref: str) -> Any:
    """The object a `"module:attribute"` reference names."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def by_name(name: str) -> StageInfo:
    return next(s for s in STAGES if s.name == name)


def by_shard_prefix(prefix: str) -> StageInfo | None:
    """The stage whose shards carry this prefix (or shards.json name), if any."""
    return next((s for s in STAGES if s.shard_prefix is not None and s.shard_prefix == prefix), None)


def known_folders() -> list[str]:
    return [s.name for s in STAGES]
