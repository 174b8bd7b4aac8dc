"""The sections of `prep report` drawn from one stage's outputs: tag frequencies, face sizes, source
resolutions, contact sheets and the notes above them (each stage's view lists its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prep.report import html as h
from prep.report.context import OK
from prep.report.html import esc

if TYPE_CHECKING:
    from prep.report.collect import StageData
    from prep.report.context import Context


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
