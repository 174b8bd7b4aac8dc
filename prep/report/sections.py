"""The sections of `prep report` that cover every stage: the summary table, the rejection reasons,
a sample of rejected sources with thumbnails, and the parameters each stage recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prep.report import html as h
from prep.report.collect import StageData, unknown_folders
from prep.report.context import OK, Context
from prep.report.html import esc

THUMB = 96  # side of the box a rejected source's thumbnail fits in


def seconds(stats: dict[str, Any] | None) -> float | None:
    """The time a stage took, from its _stats.json (`seconds`; `elapsed_s` in folders written before)."""
    if not stats:
        return None
    v = stats.get("seconds", stats.get("elapsed_s"))
    return float(v) if isinstance(v, (int, float)) else None


def shard_count(folder: Path) -> tuple[int, int] | None:
    """(shards, samples) from the folder's shards.json, or None when it has none."""
    from core.shards import read_index

    try:
        infos = read_index(folder)
    except (OSError, ValueError):
        return None
    return len(infos), sum(i.nsamples for i in infos)


def summary_section(ctx: Context) -> str:
    """Per stage: what went in, what came out, what was rejected, shards and time taken."""
    rows = []
    for st in ctx.stages.values():
        if not st.present:
            rows.append(
                [
                    f"<b>{st.name}</b>",
                    f'<span class="missing">missing</span>; build it with <code>{esc(st.build)}</code>',
                ]
            )
            continue
        shards = samples = None
        if (sc := shard_count(st.folder)) is not None:
            shards, samples = sc
        cells = st.view.summary_cells(st)
        shard_cell = f"{shards:,} ({samples:,} samples)" if shards is not None else "&mdash;"
        el = seconds(st.stats)
        rows.append(
            [f"<b>{st.name}</b>", *cells, shard_cell, f"{el:,.1f} s" if el is not None else "&mdash;"]
        )
    table = h.table(["stage", "input", "output", "rejected", "shards", "elapsed"], rows, "summary")
    problems = [p for st in ctx.stages.values() for p in st.problems]
    known = ", ".join(ctx.stages)
    problems += [
        f"{p}: no stage writes a folder of that name (known: {known}); it is left out of this report"
        for p in unknown_folders(ctx.root)
    ]
    notes = "".join(h.note(esc(p), "warn") for p in problems)
    return table + notes


def rejections(stages: dict[str, StageData]) -> dict[str, dict[str, int]]:
    """{stage: {reason: count}} over the manifests' rows whose status is not "ok"."""
    out: dict[str, dict[str, int]] = {}
    for name, st in stages.items():
        if st.table is None:
            continue
        bad = st.table[st.table["status"] != OK]
        out[name] = {str(k): int(v) for k, v in sorted(bad["status"].value_counts().items())}
    return out


def rejection_section(ctx: Context) -> str:
    """Counts of every rejection reason per stage (table + bar chart), with an example error each."""
    stages = ctx.stages
    by_stage = {k: v for k, v in rejections(stages).items() if v}
    parts = []
    if not by_stage:
        parts.append(h.note("No stage rejected anything."))
    else:
        rows = []
        for name, reasons in by_stage.items():
            st = stages[name]
            t = st.table
            assert t is not None
            for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                errs = t.loc[(t["status"] == reason) & t["error"].notna(), "error"]
                example = esc(str(errs.iloc[0])[:160]) if len(errs) else ""
                total = st.view.rejection_total(t)
                rows.append([name, f"<code>{esc(reason)}</code>", h.num(n), f"{n / total:.1%}", example])
        parts.append(
            h.table(["stage", "reason", "count", "share of the stage's input", "example detail"], rows)
        )
        parts.append(h.img(ctx.plots.rejection_chart(by_stage), "rejections per stage and reason", "plot"))
    dropped = (stages["tags"].stats or {}).get("dropped")
    if isinstance(dropped, dict) and dropped:
        text = ", ".join(f"{esc(str(k))}: {h.num(v)}" for k, v in sorted(dropped.items()))
        parts.append(h.note(f"Tags left out of the vocabulary: {text}."))
    return "".join(parts)


def thumbnail(path: Path | None) -> str:
    """A small inline picture of a source file, or why there is none."""
    import cv2

    from core.images import ImageRejected, load_image

    if path is None:
        return '<span class="dim">no file stored</span>'
    try:
        bgr = load_image(path, bgr=True)
    except ImageRejected as ex:
        return f'<span class="dim">does not decode: {esc(ex.reason)}</span>'
    hh, w = bgr.shape[:2]
    scale = THUMB / max(hh, w)
    if scale < 1:
        bgr = cv2.resize(
            bgr, (max(1, round(w * scale)), max(1, round(hh * scale))), interpolation=cv2.INTER_AREA
        )
    return h.img(h.encode_png(bgr), f"source of {path.name}", "thumb")


def rejected_sample(stages: dict[str, StageData], n: int, seed: int) -> list[dict[str, Any]]:
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
    stage_order = {name: i for i, name in enumerate(stages)}
    picked.sort(
        key=lambda r: (stage_order[r["stage"]], r["status"], r.get("post_id") or 0, r.get("key") or "")
    )
    return picked


def rejected_section(ctx: Context) -> str:
    """A table of rejected sources (post, stage, reason, detail) with a thumbnail where the file decodes."""
    stages, root, n, seed = ctx.stages, ctx.root, ctx.n_rejected, ctx.seed
    if not any(st.table is not None for st in stages.values()):
        raw = stages["raw"]
        return h.missing(raw.folder, raw.build, "manifests")
    if n == 0:
        return h.note("Skipped (asked for 0 rows).")
    rows = rejected_sample(stages, n, seed)
    if not rows:
        return h.note("Nothing was rejected.")
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
        st = stages[r["stage"]]
        source = st.view.source_file(r, st, root, raw_paths)
        cells.append(
            [pid_text, r["stage"], f"<code>{esc(str(r['status']))}</code>", detail, thumbnail(source)]
        )
    text = h.note(f"{len(rows)} rejected rows, drawn at random (seed {seed}) from each reason in turn.")
    return text + h.table(["post", "stage", "reason", "detail", "source"], cells, "rejected")


def params_section(ctx: Context) -> str:
    """The parameters each stage recorded, then every stage's whole _stats.json."""
    rows = []
    for name, st in ctx.stages.items():
        known = st.view.known_params(st)
        for key in st.view.params:
            value = known.get(key)
            if isinstance(value, dict):
                rows += [
                    [name, f"<code>{esc(key)}.{esc(str(k))}</code>", h.num(v)]
                    for k, v in sorted(value.items())
                ]
            elif value is not None:
                rows.append([name, f"<code>{esc(key)}</code>", h.num(value)])
    parts = (
        [h.table(["stage", "parameter", "value"], rows)]
        if rows
        else [h.note("No stage recorded its parameters.")]
    )
    for name, st in ctx.stages.items():
        if st.stats:
            text = json.dumps(st.stats, indent=2, sort_keys=True, ensure_ascii=False)
            parts.append(
                f"<details><summary>{esc(name)}/_stats.json</summary><pre>{esc(text)}</pre></details>"
            )
    return "".join(parts)
