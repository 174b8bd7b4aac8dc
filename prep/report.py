"""`prep report`: one self-contained HTML page about a built dataset, to open in a browser.

It reads what the stages left under the data root (`raw/`, `tags/`, `faces/`, `lineart/`), says
which are missing and how to build them, and shows counts per stage, rejection reasons, the tag
vocabulary, face sizes, source resolutions, contact sheets of faces and of line-art pairs, a sample
of rejected sources with thumbnails, and the parameters each stage recorded. Every picture is a
`data:` URI; the page loads nothing from anywhere and needs no script.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from core.vocab import Vocab


@dataclass(frozen=True)
class StageSpec:
    """Where a stage's output lives under the data root and which command builds it."""

    name: str
    manifest: str
    build: str  # `{root}` stands for the data root
    columns: tuple[str, ...] = ()  # manifest columns the report reads


STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "raw",
        "posts.parquet",
        "prep crawl --out {root}/raw",
        ("id", "width", "height", "status", "error", "path"),
    ),
    StageSpec("tags", "vocab.json", "prep tags --src {root}/raw --out {root}/tags"),
    StageSpec(
        "faces",
        "faces.parquet",
        "prep faces --src {root}/raw --out {root}/faces",
        (
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
        ),
    ),
    StageSpec(
        "lineart",
        "lineart.parquet",
        "prep canny --src {root}/faces --out {root}/lineart --vocab {root}/tags/vocab.json",
        ("key", "post_id", "source", "status", "error", "width", "height", "n_tags", "edge_fraction"),
    ),
)
OK = "ok"
THUMB = 96  # side of the box a rejected source's thumbnail fits in
# Parameters worth a table per stage (the whole _stats.json is shown below it anyway).
PARAM_KEYS: dict[str, tuple[str, ...]] = {
    "raw": ("query", "api_url"),
    "tags": ("top", "min_count", "exclude_meta", "vocab_hash"),
    "faces": ("options", "shard_size", "workers", "reduction"),
    "lineart": (
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
    ),
}


@dataclass
class Stage:
    """What one stage left under the data root (table/vocab None when absent or unreadable)."""

    spec: StageSpec
    folder: Path
    stats: dict[str, Any] | None = None
    table: pd.DataFrame | None = None
    vocab: Vocab | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.table is not None or self.vocab is not None


@dataclass(frozen=True)
class Report:
    """The page written and what is in it."""

    path: Path
    size: int
    sections: list[str]
    present: list[str]
    missing: list[str]
    images: int


# -- reading -----------------------------------------------------------------------------------


def _read_stats(folder: Path, problems: list[str]) -> dict[str, Any] | None:
    from core.stats import STATS_NAME

    path = folder / STATS_NAME
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as ex:
        problems.append(f"{path}: unreadable ({ex}); rerun the stage to rewrite it")
        return None
    return obj if isinstance(obj, dict) else None


def _read_manifest(path: Path, spec: StageSpec) -> pd.DataFrame:
    """The manifest's report columns, checked against the stage's schema (SchemaError/OSError if not)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.crawl import POSTS_SCHEMA
    from schemas.faces import FACES_SCHEMA
    from schemas.lineart import LINEART_SCHEMA
    from schemas.validate import SchemaError, validate_table

    schema = {"raw": POSTS_SCHEMA, "faces": FACES_SCHEMA, "lineart": LINEART_SCHEMA}[spec.name]
    try:
        table = pq.read_table(path, columns=list(spec.columns))
    except (pa.ArrowInvalid, KeyError) as ex:
        raise SchemaError(str(ex)) from ex
    sub = pa.schema([schema.field(c) for c in spec.columns])
    return validate_table(table, sub, where=str(path)).to_pandas()


def load_stage(root: Path, spec: StageSpec) -> Stage:
    """Read one stage's manifest (or vocabulary) and _stats.json; problems are noted, not raised."""
    from core.vocab import load_vocab
    from schemas.validate import SchemaError

    folder = root / spec.name
    stage = Stage(spec, folder)
    if not folder.is_dir():
        return stage
    stage.stats = _read_stats(folder, stage.problems)
    path = folder / spec.manifest
    rebuild = spec.build.format(root=root)
    if not path.is_file():
        stage.problems.append(
            f"{folder}: exists but holds no {spec.manifest} (an interrupted run?); run `{rebuild}`"
        )
        return stage
    try:
        if spec.name == "tags":
            stage.vocab = load_vocab(path)
        else:
            stage.table = _read_manifest(path, spec)
    except (UserError, SchemaError, OSError, ValueError) as ex:
        stage.problems.append(f"{path}: unreadable ({ex}); rebuild it with `{rebuild}`")
    return stage


def collect(root: Path) -> dict[str, Stage]:
    """Every stage's outputs under `root`; UserError when `root` holds none of them."""
    if not root.exists():
        raise UserError(
            f"{root}: no such folder; give the data root (the folder holding raw/, tags/, faces/, "
            "lineart/) or build a dataset first with `prep repro`"
        )
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; give the data root (the folder holding raw/, tags/, ...)")
    stages = {spec.name: load_stage(root, spec) for spec in STAGES}
    if not any(s.present for s in stages.values()):
        wanted = ", ".join(f"{s.name}/{s.manifest}" for s in STAGES)
        broken = [p for s in stages.values() if (s.folder / s.spec.manifest).is_file() for p in s.problems]
        if broken:
            raise UserError(f"{root}: nothing usable to report on: {broken[-1]}")
        raise UserError(
            f"{root}: no dataset there (none of {wanted}); build one with `prep repro` "
            f"or start with `prep crawl --out {root}/raw`"
        )
    return stages


# -- small HTML helpers ------------------------------------------------------------------------

esc = html.escape


def _img(png: bytes, alt: str, cls: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    klass = f' class="{cls}"' if cls else ""
    return f'<img{klass} alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[Any]], cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(_row(row, len(header)) for row in rows)
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _row(cells: list[Any], width: int) -> str:
    """A table row; a short row's last cell spans the remaining columns."""
    tds = [f"<td>{c}</td>" for c in cells]
    if tds and len(cells) < width:
        tds[-1] = f'<td colspan="{width - len(cells) + 1}">{cells[-1]}</td>'
    return "<tr>" + "".join(tds) + "</tr>"


def _num(v: Any) -> str:
    if v is None:
        return "&mdash;"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return esc(str(v))


def _note(text: str, kind: str = "note") -> str:
    return f'<p class="{kind}">{text}</p>'


def _missing(stage: Stage, root: Path, what: str) -> str:
    cmd = stage.spec.build.format(root=root)
    return _note(
        f"No {esc(what)}: <code>{esc(str(stage.folder))}</code> is missing; build it with <code>{esc(cmd)}</code>."
    )


def _encode_png(bgr: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _elapsed(stats: dict[str, Any] | None) -> float | None:
    if not stats:
        return None
    v = stats.get("elapsed_s", stats.get("seconds"))
    return float(v) if isinstance(v, (int, float)) else None


def _shard_count(folder: Path) -> tuple[int, int] | None:
    """(shards, samples) from the folder's shards.json, or None when it has none."""
    from core.shards import read_index

    try:
        infos = read_index(folder)
    except (OSError, ValueError):
        return None
    return len(infos), sum(i.nsamples for i in infos)


# -- sections ------------------------------------------------------------------------------------


def rejections(stages: dict[str, Stage]) -> dict[str, dict[str, int]]:
    """{stage: {reason: count}} over the manifests' rows whose status is not "ok"."""
    out: dict[str, dict[str, int]] = {}
    for name, st in stages.items():
        if st.table is None:
            continue
        bad = st.table[st.table["status"] != OK]
        out[name] = {str(k): int(v) for k, v in sorted(bad["status"].value_counts().items())}
    return out


def summary_section(stages: dict[str, Stage], root: Path) -> str:
    """Per stage: what went in, what came out, what was rejected, shards and time taken."""
    rows = []
    for name, st in stages.items():
        cmd = st.spec.build.format(root=root)
        if not st.present:
            rows.append(
                [
                    f"<b>{name}</b>",
                    f'<span class="missing">missing</span>; build it with <code>{esc(cmd)}</code>',
                ]
            )
            continue
        shards = samples = None
        if (sc := _shard_count(st.folder)) is not None:
            shards, samples = sc
        t = st.table
        if name == "raw":
            ok = int((t["status"] == OK).sum())
            cells = [f"{len(t):,} posts listed", f"{ok:,} images stored", f"{len(t) - ok:,} posts"]
        elif name == "tags":
            v = st.vocab
            assert v is not None
            distinct = (st.stats or {}).get("distinct_tags")
            cells = [
                f"{_num(v.meta.get('source_posts'))} posts",
                f"{len(v):,} tags in the vocabulary",
                f"{distinct - len(v):,} tags left out" if isinstance(distinct, int) else "&mdash;",
            ]
        elif name == "faces":
            ok_rows = t[t["status"] == OK]
            n_src = int(t["post_id"].nunique())
            n_bad = int((t["status"] != OK).sum())
            cells = [
                f"{n_src:,} sources",
                f"{len(ok_rows):,} faces from {ok_rows['post_id'].nunique():,} sources",
                f"{n_bad:,} sources",
            ]
        else:
            ok = int((t["status"] == OK).sum())
            cells = [f"{len(t):,} items", f"{ok:,} line-art pairs", f"{len(t) - ok:,} items"]
        shard_cell = f"{shards:,} ({samples:,} samples)" if shards is not None else "&mdash;"
        el = _elapsed(st.stats)
        rows.append([f"<b>{name}</b>", *cells, shard_cell, f"{el:,.1f} s" if el is not None else "&mdash;"])
    table = _table(["stage", "input", "output", "rejected", "shards", "elapsed"], rows, "summary")
    problems = [p for st in stages.values() for p in st.problems]
    notes = "".join(_note(esc(p), "warn") for p in problems)
    return table + notes


def rejection_section(stages: dict[str, Stage], plots: Any) -> str:
    """Counts of every rejection reason per stage (table + bar chart), with an example error each."""
    by_stage = {k: v for k, v in rejections(stages).items() if v}
    parts = []
    tags = stages["tags"]
    if not by_stage:
        parts.append(_note("No stage rejected anything."))
    else:
        rows = []
        for name, reasons in by_stage.items():
            t = stages[name].table
            assert t is not None
            for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                errs = t.loc[(t["status"] == reason) & t["error"].notna(), "error"]
                example = esc(str(errs.iloc[0])[:160]) if len(errs) else ""
                # faces.parquet has a row per face kept but one per rejected source: share of sources
                total = t["post_id"].nunique() if name == "faces" else len(t)
                rows.append([name, f"<code>{esc(reason)}</code>", _num(n), f"{n / total:.1%}", example])
        parts.append(
            _table(["stage", "reason", "count", "share of the stage's input", "example detail"], rows)
        )
        parts.append(_img(plots.rejection_chart(by_stage), "rejections per stage and reason", "plot"))
    dropped = (tags.stats or {}).get("dropped")
    if isinstance(dropped, dict) and dropped:
        text = ", ".join(f"{esc(str(k))}: {_num(v)}" for k, v in sorted(dropped.items()))
        parts.append(_note(f"Tags left out of the vocabulary: {text}."))
    return "".join(parts)


def tags_section(stages: dict[str, Stage], root: Path, plots: Any) -> str:
    """The vocabulary's most frequent tags and the distribution of tag counts."""
    st = stages["tags"]
    v = st.vocab
    if v is None:
        return _missing(st, root, "tag vocabulary")
    n_posts = v.meta.get("source_posts")
    png = plots.tag_charts(list(v.tags), list(v.counts), n_posts if isinstance(n_posts, int) else None)
    parts = [
        _note(
            f"{len(v):,} tags counted over {_num(n_posts)} posts (hash <code>{esc(v.hash[:16])}</code>&hellip;); "
            f"the most frequent is <code>{esc(v.tags[0])}</code> ({v.counts[0]:,} posts), the least "
            f"<code>{esc(v.tags[-1])}</code> ({v.counts[-1]:,})."
        ),
        _img(png, "tag frequencies", "plot"),
    ]
    lineart = stages["lineart"].stats or {}
    if lineart.get("vocab_hash") and lineart["vocab_hash"] != v.hash:
        parts.append(
            _note(
                "The line-art shards were built with another vocabulary than this one; rerun "
                f"<code>{esc(stages['lineart'].spec.build.format(root=root))}</code>.",
                "warn",
            )
        )
    return "".join(parts)


def face_size_section(stages: dict[str, Stage], root: Path, plots: Any) -> str:
    """Histogram of the detected faces' box sides (source pixels)."""
    st = stages["faces"]
    if st.table is None:
        return _missing(st, root, "face detections")
    ok = st.table[st.table["status"] == OK]
    if ok.empty:
        return _note("No face was kept, so there is no size to show.")
    import numpy as np

    sides = ok["w"].astype(int).to_numpy()
    options = (st.stats or {}).get("options") or {}
    min_face = options.get("min_face") if isinstance(options, dict) else None
    p5, p50, p95 = (int(x) for x in np.percentile(sides, [5, 50, 95]))
    text = _note(
        f"{len(sides):,} faces; box side median {p50} px (5th percentile {p5}, 95th {p95}, "
        f"range {sides.min()}&ndash;{sides.max()})."
    )
    png = plots.face_size_chart(sides.tolist(), min_face, ok["crop_size"].dropna().astype(int).tolist())
    return text + _img(png, "face box sizes", "plot")


def resolution_section(stages: dict[str, Stage], root: Path, plots: Any, seed: int) -> str:
    """Width and height of the sources (the crawl's stored posts, else the faces' decoded sources)."""
    raw, faces = stages["raw"], stages["faces"]
    if raw.table is not None:
        t = raw.table[(raw.table["status"] == OK)].dropna(subset=["width", "height"])
        w, h, what = t["width"], t["height"], "stored posts (sizes the API gave)"
    elif faces.table is not None:
        t = faces.table.dropna(subset=["source_width", "source_height"]).drop_duplicates("post_id")
        w, h, what = t["source_width"], t["source_height"], "sources the face stage decoded"
    else:
        return _missing(raw, root, "crawl manifest")
    if t.empty:
        return _note("No source has a known size.")
    w, h = w.astype(int), h.astype(int)
    text = _note(
        f"{len(t):,} {esc(what)}; median {int(w.median())} &times; {int(h.median())} px, "
        f"smallest side {int(min(w.min(), h.min()))} px, largest {int(max(w.max(), h.max()))} px."
    )
    return text + _img(plots.resolution_chart(w.tolist(), h.tolist(), seed), "source resolutions", "plot")


def sheet_section(
    stage: Stage, root: Path, n: int, cols: int, seed: int, labels: bool, height: int | None
) -> str:
    """A contact sheet of `n` samples drawn (seeded) from the stage's shards."""
    from prep.contact_sheet import compose, pick_samples, tile_for

    if not stage.present:
        return _missing(stage, root, f"{stage.spec.name} shards")
    if n == 0:
        return _note("Skipped (asked for 0 samples).")
    try:
        picked = pick_samples(stage.folder, n, seed)
    except (ValueError, OSError, EOFError) as ex:
        return _note(
            f"{esc(str(stage.folder))}: unreadable shards ({esc(str(ex))}); check them with <code>prep verify {esc(str(stage.folder))}</code>.",
            "warn",
        )
    pairs = [(k, t) for k, files in picked if (t := tile_for(files)) is not None]
    if not pairs:
        return _note("No sample with a decodable image.")
    sheet = compose([t for _, t in pairs], [k for k, _ in pairs], cols, labels, height)
    text = _note(f"{len(pairs)} samples drawn at random (seed {seed}).")
    return text + _img(_encode_png(sheet.image), f"{stage.spec.name} contact sheet", "sheet")


def lineart_note(stage: Stage) -> str:
    """Tags per pair and how much of each line image is lines."""
    t = stage.table
    ok = t[t["status"] == OK] if t is not None else None
    if ok is None or ok.empty:
        return ""
    n_tags, edges = ok["n_tags"].dropna(), ok["edge_fraction"].dropna()
    dims = ok[["width", "height"]].dropna().astype(int).drop_duplicates().sort_values(["width", "height"])
    sizes = ", ".join(f"{w}&times;{h}" for w, h in dims.head(4).itertuples(index=False))
    sizes += ", &hellip;" if len(dims) > 4 else ""
    return _note(
        f"{len(ok):,} pairs of {sizes} px; vocabulary tags per pair: median {n_tags.median():.0f} "
        f"(none: {int((n_tags == 0).sum()):,}); share of line pixels: median {edges.median():.1%}."
    )


def _thumbnail(path: Path | None) -> str:
    """A small inline picture of a source file, or why there is none."""
    import cv2

    from core.images import ImageRejected, load_image

    if path is None:
        return '<span class="dim">no file stored</span>'
    try:
        bgr = load_image(path, bgr=True)
    except ImageRejected as ex:
        return f'<span class="dim">does not decode: {esc(ex.reason)}</span>'
    h, w = bgr.shape[:2]
    scale = THUMB / max(h, w)
    if scale < 1:
        bgr = cv2.resize(
            bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    return _img(_encode_png(bgr), f"source of {path.name}", "thumb")


def rejected_sample(stages: dict[str, Stage], n: int, seed: int) -> list[dict[str, Any]]:
    """Up to `n` rejected rows, spread over every (stage, reason) in turn, drawn with `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    groups: list[tuple[str, Any, list[int]]] = []  # (stage, its rejected rows, their order)
    for name, st in stages.items():
        if st.table is None:
            continue
        bad = st.table[st.table["status"] != OK]
        for reason in sorted(bad["status"].unique()):
            rows = bad[bad["status"] == reason]
            groups.append((name, rows, rng.permutation(len(rows))[:n].tolist()))
    chosen: list[tuple[int, int]] = []  # (group, position): one of each reason in turn
    depth = 0
    while len(chosen) < n and any(depth < len(order) for _, _, order in groups):
        for g, (_, _, order) in enumerate(groups):
            if depth < len(order) and len(chosen) < n:
                chosen.append((g, order[depth]))
        depth += 1
    picked = []
    for g, i in chosen:
        name, rows, _ = groups[g]
        row = {**rows.iloc[i].to_dict(), "stage": name}
        if name == "raw":
            row["post_id"] = row["id"]
        picked.append(row)
    stage_order = {s.name: i for i, s in enumerate(STAGES)}
    picked.sort(
        key=lambda r: (stage_order[r["stage"]], r["status"], r.get("post_id") or 0, r.get("key") or "")
    )
    return picked


def _source_file(row: dict[str, Any], root: Path, raw_paths: dict[int, str]) -> Path | None:
    """The raw file a rejected row came from, when one is known."""
    import pandas as pd

    pid = row.get("post_id")
    rel = raw_paths.get(int(pid)) if pid is not None and not pd.isna(pid) else None
    if row["stage"] == "raw":
        rel = row.get("path")
    elif rel is None and row["stage"] == "faces":
        rel = row.get("source_path")
    elif rel is None and row["stage"] == "lineart" and not str(row.get("source", "")).endswith(".tar"):
        rel = row.get("source")
    if rel is None or (isinstance(rel, float) and pd.isna(rel)):
        return None
    return root / "raw" / str(rel)


def rejected_section(stages: dict[str, Stage], root: Path, n: int, seed: int) -> str:
    """A table of rejected sources (post, stage, reason, detail) with a thumbnail where the file decodes."""
    if not any(st.table is not None for st in stages.values()):
        return _missing(stages["raw"], root, "manifests")
    if n == 0:
        return _note("Skipped (asked for 0 rows).")
    rows = rejected_sample(stages, n, seed)
    if not rows:
        return _note("Nothing was rejected.")
    raw_paths: dict[int, str] = {}
    if (raw := stages["raw"].table) is not None:
        stored = raw.dropna(subset=["path"])
        raw_paths = dict(zip(stored["id"].astype(int), stored["path"], strict=True))
    cells = []
    for r in rows:
        pid = r.get("post_id")
        pid_text = "&mdash;" if pid is None or pid != pid else str(int(pid))
        err = r.get("error")
        detail = "" if err is None or err != err else esc(str(err)[:200])
        cells.append(
            [
                pid_text,
                r["stage"],
                f"<code>{esc(str(r['status']))}</code>",
                detail,
                _thumbnail(_source_file(r, root, raw_paths)),
            ]
        )
    text = _note(f"{len(rows)} rejected rows, drawn at random (seed {seed}) from each reason in turn.")
    return text + _table(["post", "stage", "reason", "detail", "source"], cells, "rejected")


def params_section(stages: dict[str, Stage]) -> str:
    """The parameters each stage recorded, then every stage's whole _stats.json."""
    rows = []
    for name, st in stages.items():
        known = dict(st.stats or {})
        if name == "tags" and st.vocab is not None:
            known = {**st.vocab.meta, "vocab_hash": st.vocab.hash, **known}
        for key in PARAM_KEYS[name]:
            value = known.get(key)
            if isinstance(value, dict):
                rows += [
                    [name, f"<code>{esc(key)}.{esc(str(k))}</code>", _num(v)]
                    for k, v in sorted(value.items())
                ]
            elif value is not None:
                rows.append([name, f"<code>{esc(key)}</code>", _num(value)])
    parts = (
        [_table(["stage", "parameter", "value"], rows)]
        if rows
        else [_note("No stage recorded its parameters.")]
    )
    for name, st in stages.items():
        if st.stats:
            text = json.dumps(st.stats, indent=2, sort_keys=True, ensure_ascii=False)
            parts.append(
                f"<details><summary>{esc(name)}/_stats.json</summary><pre>{esc(text)}</pre></details>"
            )
    return "".join(parts)


# -- the page ----------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 2rem 4rem;color:#222;background:#fff;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;
margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}td:has(img){padding:2px}
img{max-width:100%;height:auto;display:block}img.plot,img.sheet{margin:.6rem 0;border:1px solid #eee}
img.thumb{max-width:96px;max-height:96px}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px;font-size:.85em}
pre{background:#f8f8f8;padding:.6rem;overflow:auto;font-size:.8rem;max-height:24rem}
.note{color:#444}.warn{color:#8a4b00;background:#fff6e5;padding:.3rem .6rem;border-left:3px solid #e0a030}
.missing{color:#b00020;font-weight:600}.dim{color:#888;font-size:.85em}
nav a{margin-right:1rem}summary{cursor:pointer;margin:.3rem 0}
"""


def render(root: Path, sections: list[tuple[str, str, str]], present: list[str], missing: list[str]) -> str:
    """The whole page from (anchor, title, body html) sections."""
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{b}</section>' for a, t, b in sections)
    have = ", ".join(present) or "none"
    lacking = f"; missing: {', '.join(missing)}" if missing else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Dataset report: {esc(str(root))}</title><style>{CSS}</style></head>\n<body>"
        f'<h1>Dataset report</h1><p class="note">Data root <code>{esc(str(root))}</code>; '
        f"stages found: {esc(have)}{esc(lacking)}.</p><nav>{nav}</nav>\n{body}\n</body></html>\n"
    )


def build_report(
    root: str | Path,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    n_faces: int = 64,
    n_pairs: int = 16,
    n_rejected: int = 24,
) -> Report:
    """`prep report`: write the HTML page about the dataset under `root` (default `<root>/report.html`)."""
    from core.atomic import atomic_write_text

    root = Path(root)
    out = Path(out) if out is not None else root / "report.html"
    for opt, v in (("--faces", n_faces), ("--pairs", n_pairs), ("--rejected", n_rejected)):
        if v < 0:
            raise UserError(f"{opt} {v}: give 0 (leave the section empty) or more")
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name ending in .html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {out}: the report is an HTML page; give a name ending in .html")
    stages = collect(root)

    from prep import report_plots as plots

    sections = [
        ("summary", "Stages", summary_section(stages, root)),
        ("rejections", "Rejection reasons", rejection_section(stages, plots)),
        ("tags", "Tag frequencies", tags_section(stages, root, plots)),
        ("face-sizes", "Face sizes", face_size_section(stages, root, plots)),
        ("resolutions", "Source resolutions", resolution_section(stages, root, plots, seed)),
        ("faces", "Faces", sheet_section(stages["faces"], root, n_faces, 8, seed, False, 96)),
        (
            "lineart",
            "Line-art pairs (line | colour)",
            lineart_note(stages["lineart"])
            + sheet_section(stages["lineart"], root, n_pairs, 4, seed, True, 128),
        ),
        ("rejected", "Rejected sources (sample)", rejected_section(stages, root, n_rejected, seed)),
        ("params", "Parameters", params_section(stages)),
    ]
    present = [n for n, st in stages.items() if st.present]
    missing = [n for n, st in stages.items() if not st.present]
    page = render(root, sections, present, missing)
    try:
        atomic_write_text(out, page)
    except OSError as ex:
        raise UserError(f"--out {out}: cannot write it ({ex.strerror or ex}); choose another path") from None
    return Report(
        out, len(page.encode("utf-8")), [t for _, t, _ in sections], present, missing, page.count("<img ")
    )


def summary(report: Report) -> str:
    """The one-line end-of-command summary."""
    size = f"{report.size / 1e6:.1f}MB" if report.size >= 1e6 else f"{report.size / 1e3:.0f}kB"
    missing = ",".join(report.missing) or "-"
    return (
        f"report: out={report.path} size={size} sections={len(report.sections)} images={report.images} "
        f"stages={','.join(report.present)} missing={missing}"
    )
