"""Each stage's part of `prep report`: how its manifest is read, its cells in the summary table,
where a rejected row's source file is, which parameters it shows and its own sections.

A view is named by its stage's declaration in prep/stages.py; the page (prep/report/page.py) asks
every registered stage's view for its sections and orders them by their `order`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prep.report import html as h
from prep.report.context import OK, Context, Section
from prep.report.stage_sections import (
    content_note,
    face_size_section,
    lineart_note,
    resolution_section,
    sheet_section,
    tags_section,
)

if TYPE_CHECKING:
    from prep.report.collect import StageData


def _is_na(v: Any) -> bool:
    import pandas as pd

    return v is None or (not isinstance(v, (list, tuple, dict, str)) and bool(pd.isna(v)))


class StageView:
    """The defaults: a parquet manifest read with `columns`, one input item per manifest row."""

    columns: tuple[str, ...] = ()  # manifest columns the report reads
    params: tuple[str, ...] = ()  # _stats.json keys shown in the parameter table

    def read(self, st: StageData, path: Path) -> None:
        """Fill `st.table` (or `st.vocab`) from the manifest; raises what an unreadable one gives."""
        from prep.manifests import read_columns

        st.table = read_columns(path, resolve_schema(st), self.columns).to_pandas()

    # what the summary's input, output and rejected cells count (rows, ok rows, other rows)
    words: tuple[str, str, str] = ("items", "outputs", "items")

    def summary_cells(self, st: StageData) -> list[str]:
        """Input, output, rejected: the summary table's cells."""
        t = st.table
        ok = int((t["status"] == OK).sum())
        given, made, rejected = self.words
        return [f"{len(t):,} {given}", f"{ok:,} {made}", f"{len(t) - ok:,} {rejected}"]

    def rejection_total(self, table: Any) -> int:
        """The stage's input count that rejection shares are taken of."""
        return len(table)

    def source_file(
        self, row: dict[str, Any], st: StageData, root: Path, raw_paths: dict[int, str]
    ) -> Path | None:
        """The file a rejected row came from, when one is known."""
        return None

    def known_params(self, st: StageData) -> dict[str, Any]:
        return dict(st.stats or {})

    def sections(self) -> list[Section]:
        return []


def resolve_schema(st: StageData) -> Any:
    from prep.stages import resolve

    assert st.info.schema is not None
    return resolve(st.info.schema)


def _raw_file(root: Path, rel: Any) -> Path | None:
    return None if _is_na(rel) else root / "raw" / str(rel)


def _post_file(row: dict[str, Any], raw_paths: dict[int, str]) -> str | None:
    """The crawl path of the row's post, when the crawl stored its file."""
    pid = row.get("post_id")
    return raw_paths.get(int(pid)) if not _is_na(pid) else None


class RawView(StageView):
    columns = ("id", "width", "height", "status", "error", "path")
    params = ("query", "api_url")

    def read(self, st: StageData, path: Path) -> None:
        from prep.posts import read_manifest

        st.table = read_manifest(path, self.columns).to_pandas()

    words = ("posts listed", "images stored", "posts")

    def source_file(
        self, row: dict[str, Any], st: StageData, root: Path, raw_paths: dict[int, str]
    ) -> Path | None:
        return _raw_file(root, row.get("path"))

    def sections(self) -> list[Section]:
        return [Section(40, "resolutions", "Source resolutions", resolution_section)]


class TagsView(StageView):
    params = ("top", "min_count", "exclude_meta", "vocab_hash")

    def read(self, st: StageData, path: Path) -> None:
        from core.vocab import load_vocab

        st.vocab = load_vocab(path)

    def summary_cells(self, st: StageData) -> list[str]:
        v = st.vocab
        assert v is not None
        distinct = (st.stats or {}).get("distinct_tags")
        return [
            f"{h.num(v.meta.get('source_posts'))} posts",
            f"{len(v):,} tags in the vocabulary",
            f"{distinct - len(v):,} tags left out" if isinstance(distinct, int) else "&mdash;",
        ]

    def known_params(self, st: StageData) -> dict[str, Any]:
        known = dict(st.stats or {})
        if st.vocab is not None:
            known = {**st.vocab.meta, "vocab_hash": st.vocab.hash, **known}
        return known

    def sections(self) -> list[Section]:
        return [Section(20, "tags", "Tag frequencies", tags_section)]


class FacesView(StageView):
    columns = (
        "key",
        "post_id",
        "w",
        "h",
        "crop_size",
        "source_width",
        "source_height",
        "source_path",
        "status",
        "error",
    )
    params = ("options", "shard_size", "workers", "reduction")

    def summary_cells(self, st: StageData) -> list[str]:
        t = st.table
        ok_rows = t[t["status"] == OK]
        n_src = int(t["post_id"].nunique())
        n_bad = int((t["status"] != OK).sum())
        return [
            f"{n_src:,} sources",
            f"{len(ok_rows):,} faces from {ok_rows['post_id'].nunique():,} sources",
            f"{n_bad:,} sources",
        ]

    def rejection_total(self, table: Any) -> int:
        # faces.parquet has a row per face kept but one per rejected source: share of sources
        return int(table["post_id"].nunique())

    def source_file(
        self, row: dict[str, Any], st: StageData, root: Path, raw_paths: dict[int, str]
    ) -> Path | None:
        rel = _post_file(row, raw_paths)
        return _raw_file(root, rel if rel is not None else row.get("source_path"))

    def sections(self) -> list[Section]:
        def sheet(ctx: Context) -> str:
            return sheet_section(ctx.stages["faces"], ctx.n_faces, 8, ctx.seed, False, 96)

        return [
            Section(30, "face-sizes", "Face sizes", face_size_section),
            Section(50, "faces", "Faces", sheet),
        ]


class LineartView(StageView):
    columns = ("key", "post_id", "source", "status", "error", "width", "height", "n_tags", "edge_fraction")
    params = (
        "source",
        "src",
        "low",
        "high",
        "invert",
        "size",
        "aperture_size",
        "l2_gradient",
        "vocab_hash",
        "workers",
    )

    words = ("items", "line-art pairs", "items")

    def source_file(
        self, row: dict[str, Any], st: StageData, root: Path, raw_paths: dict[int, str]
    ) -> Path | None:
        rel = _post_file(row, raw_paths)
        if rel is None and not str(row.get("source", "")).endswith(".tar"):
            rel = row.get("source")
        return _raw_file(root, rel)

    def sections(self) -> list[Section]:
        def body(ctx: Context) -> str:
            st = ctx.stages["lineart"]
            return lineart_note(st) + sheet_section(st, ctx.n_pairs, 4, ctx.seed, True, 128)

        return [Section(60, "lineart", "Line-art pairs (line | colour)", body)]


class ContentView(StageView):
    columns = ("key", "source_path", "width", "height", "scale", "status", "error")
    params = ("src", "options", "shard_size", "workers")

    words = ("image files", "content images", "files")

    def source_file(
        self, row: dict[str, Any], st: StageData, root: Path, raw_paths: dict[int, str]
    ) -> Path | None:
        src = (st.stats or {}).get("src")
        rel = row.get("source_path")
        return None if not isinstance(src, str) or _is_na(rel) else Path(src) / str(rel)

    def sections(self) -> list[Section]:
        def body(ctx: Context) -> str:
            st = ctx.stages["content"]
            return content_note(st) + sheet_section(st, ctx.n_content, 4, ctx.seed, False, 128, square=True)

        return [Section(65, "content", "Content images", body)]
