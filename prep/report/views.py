"""Each stage's part of `prep report`: how its manifest is read, its cells in the summary table,
where a rejected row's source file is, which parameters it shows and its own sections.

A view is named by its stage's declaration in prep/stages.py; the page (prep/report/page.py) asks
every registered stage's view for its sections and orders them by their `order`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prep.report import html as h
from prep.report.html import esc

if TYPE_CHECKING:
    from prep.report.collect import StageData

OK = "ok"


@dataclass(frozen=True)
class Context:
    """What every section may use: the stages read, the data root, the charts module and the options."""

    stages: dict[str, StageData]
    root: Path
    plots: Any
    seed: int
    n_faces: int
    n_pairs: int
    n_rejected: int
    n_content: int


@dataclass(frozen=True)
class Section:
    """A section of the page: `order` places it (summary 0, rejections 10, ..., parameters 100)."""

    order: int
    anchor: str
    title: str
    body: Callable[[Context], str]


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


# -- the stage sections --------------------------------------------------------------------------


def tags_section(ctx: Context) -> str:
    """The vocabulary's most frequent tags and the distribution of tag counts."""
    st = ctx.stages["tags"]
    v = st.vocab
    if v is None:
        return h.missing(st.folder, st.build, "tag vocabulary")
    n_posts = v.meta.get("source_posts")
    png = ctx.plots.tag_charts(list(v.tags), list(v.counts), n_posts if isinstance(n_posts, int) else None)
    parts = [
        h.note(
            f"{len(v):,} tags counted over {h.num(n_posts)} posts (hash <code>{esc(v.hash[:16])}</code>&hellip;); "
            f"the most frequent is <code>{esc(v.tags[0])}</code> ({v.counts[0]:,} posts), the least "
            f"<code>{esc(v.tags[-1])}</code> ({v.counts[-1]:,})."
        ),
        h.img(png, "tag frequencies", "plot"),
    ]
    lineart = ctx.stages["lineart"]
    used = (lineart.stats or {}).get("vocab_hash")
    if used and used != v.hash:
        parts.append(
            h.note(
                "The line-art shards were built with another vocabulary than this one; rerun "
                f"<code>{esc(lineart.build)}</code>.",
                "warn",
            )
        )
    return "".join(parts)


def face_size_section(ctx: Context) -> str:
    """Histogram of the detected faces' box sides (source pixels)."""
    st = ctx.stages["faces"]
    if st.table is None:
        return h.missing(st.folder, st.build, "face detections")
    ok = st.table[st.table["status"] == OK]
    if ok.empty:
        return h.note("No face was kept, so there is no size to show.")
    import numpy as np

    sides = ok["w"].astype(int).to_numpy()
    options = (st.stats or {}).get("options") or {}
    min_face = options.get("min_face") if isinstance(options, dict) else None
    p5, p50, p95 = (int(x) for x in np.percentile(sides, [5, 50, 95]))
    text = h.note(
        f"{len(sides):,} faces; box side median {p50} px (5th percentile {p5}, 95th {p95}, "
        f"range {sides.min()}&ndash;{sides.max()})."
    )
    png = ctx.plots.face_size_chart(sides.tolist(), min_face, ok["crop_size"].dropna().astype(int).tolist())
    return text + h.img(png, "face box sizes", "plot")


def resolution_section(ctx: Context) -> str:
    """Width and height of the sources (the crawl's stored posts, else the faces' decoded sources)."""
    raw, faces = ctx.stages["raw"], ctx.stages["faces"]
    if raw.table is not None:
        t = raw.table[(raw.table["status"] == OK)].dropna(subset=["width", "height"])
        w, hh, what = t["width"], t["height"], "stored posts (sizes the API gave)"
    elif faces.table is not None:
        t = faces.table.dropna(subset=["source_width", "source_height"]).drop_duplicates("post_id")
        w, hh, what = t["source_width"], t["source_height"], "sources the face stage decoded"
    else:
        return h.missing(raw.folder, raw.build, "crawl manifest")
    if t.empty:
        return h.note("No source has a known size.")
    w, hh = w.astype(int), hh.astype(int)
    text = h.note(
        f"{len(t):,} {esc(what)}; median {int(w.median())} &times; {int(hh.median())} px, "
        f"smallest side {int(min(w.min(), hh.min()))} px, largest {int(max(w.max(), hh.max()))} px."
    )
    chart = ctx.plots.resolution_chart(w.tolist(), hh.tolist(), ctx.seed)
    return text + h.img(chart, "source resolutions", "plot")


def _centre_square(tile: Any) -> Any:
    th, tw = tile.shape[:2]
    s = min(th, tw)
    return tile[(th - s) // 2 : (th - s) // 2 + s, (tw - s) // 2 : (tw - s) // 2 + s]


def sheet_section(
    stage: StageData, n: int, cols: int, seed: int, labels: bool, height: int | None, square: bool = False
) -> str:
    """A contact sheet of `n` samples drawn (seeded) from the stage's shards (centre squares if `square`)."""
    from prep.contact_sheet import compose, pick_samples, tile_for

    if not stage.present:
        return h.missing(stage.folder, stage.build, f"{stage.name} shards")
    if n == 0:
        return h.note("Skipped (asked for 0 samples).")
    try:
        picked = pick_samples(stage.folder, n, seed)
    except (ValueError, OSError, EOFError) as ex:
        return h.note(
            f"{esc(str(stage.folder))}: unreadable shards ({esc(str(ex))}); check them with <code>prep verify {esc(str(stage.folder))}</code>.",
            "warn",
        )
    pairs = [(k, t) for k, files in picked if (t := tile_for(files)) is not None]
    if not pairs:
        return h.note("No sample with a decodable image.")
    tiles = [_centre_square(t) if square else t for _, t in pairs]
    sheet = compose(tiles, [k for k, _ in pairs], cols, labels, height)
    text = h.note(f"{len(pairs)} samples drawn at random (seed {seed}).")
    return text + h.img(h.encode_png(sheet.image), f"{stage.name} contact sheet", "sheet")


def lineart_note(stage: StageData) -> str:
    """Tags per pair and how much of each line image is lines."""
    t = stage.table
    ok = t[t["status"] == OK] if t is not None else None
    if ok is None or ok.empty:
        return ""
    n_tags, edges = ok["n_tags"].dropna(), ok["edge_fraction"].dropna()
    dims = ok[["width", "height"]].dropna().astype(int).drop_duplicates().sort_values(["width", "height"])
    sizes = ", ".join(f"{w}&times;{hh}" for w, hh in dims.head(4).itertuples(index=False))
    sizes += ", &hellip;" if len(dims) > 4 else ""
    return h.note(
        f"{len(ok):,} pairs of {sizes} px; vocabulary tags per pair: median {n_tags.median():.0f} "
        f"(none: {int((n_tags == 0).sum()):,}); share of line pixels: median {edges.median():.1%}."
    )


def content_note(stage: StageData) -> str:
    """How many content images there are, their sizes and how many were enlarged."""
    t = stage.table
    ok = t[t["status"] == OK] if t is not None else None
    if ok is None or ok.empty:
        return ""
    w, hh = ok["width"].astype(int), ok["height"].astype(int)
    up = int((ok["scale"] > 1).sum())
    return h.note(
        f"{len(ok):,} images, shorter side {int(min(w.min(), hh.min()))} px; median {int(w.median())} "
        f"&times; {int(hh.median())} px; enlarged: {up:,}. Shown as centre squares."
    )
