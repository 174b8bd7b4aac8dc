"""`prep images`: any folder of pictures into content shards for a feed-forward stylizer.

Every file under `--src` with an image suffix (IMAGE_SUFFIXES, any case; hidden files and folders
skipped) is a source, taken in the order of its path relative to `--src`. It is decoded with
core.images (type sniffed from the bytes, EXIF orientation applied, alpha flattened onto white)
and resized so that its shorter side is `--size`, aspect kept, never cropped: shrunk with the area
filter, enlarged with bicubic by at most MAX_UPSCALE (2x); a source whose shorter side is under
`--size / 2` is rejected as `too_small` rather than enlarged further. The layout of the shards is
documented in docs/data-format.md ("Content samples").

A source is identified for resume by its relative path, byte size and modification time, so a
rerun after adding photos recomputes only the shards from the first changed chunk of paths on, without reading
the finished ones again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from prep.shardjob import Chunk, ChunkResult, JobParams, locator

if TYPE_CHECKING:
    import numpy as np

PREFIX = "content"
MANIFEST_NAME = "content.parquet"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp")
FORMATS = ("jpg", "png")
JPEG_QUALITY = 95
PNG_COMPRESSION = 6
MAX_UPSCALE = 2.0  # sources whose shorter side is under size / MAX_UPSCALE are rejected
# Bump when the stored images or the sample JSON change for the same inputs and options.
ALGORITHM_VERSION = 1
_DELAY_ENV = "PREP_IMAGES_TEST_DELAY"  # hidden: seconds to sleep per source (kill/resume tests)


@dataclass(frozen=True)
class ContentJob(JobParams):
    """What a chunk's output depends on (the fingerprint), and where its input is (a locator)."""

    size: int
    format: str
    quality: int
    max_pixels: int
    version: int
    opencv: str
    src: str = locator()


def source_key(rel: str) -> str:
    """The sample key of a source: `img_` and 16 hex digits of the sha256 of its relative path
    (the path's bytes as the file system has them, so a name that is not UTF-8 gets a key too)."""
    return "img_" + hashlib.sha256(os.fsencode(rel)).hexdigest()[:16]


def shown_path(rel: str) -> str:
    """The relative path as recorded in the manifest and the JSON: bytes that are not UTF-8 become U+FFFD."""
    return os.fsencode(rel).decode("utf-8", "replace")


def find_sources(src: Path, exclude: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """The image files under `src` ({path, bytes, mtime_ns}, sorted by path) and how many other files
    there were (hidden files and folders, and the folder `exclude`, are not looked at)."""
    items: list[dict[str, Any]] = []
    skipped = 0
    skip = exclude.resolve() if exclude is not None else None
    for folder, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != skip]
        for name in files:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if not name.lower().endswith(IMAGE_SUFFIXES):
                skipped += 1
                continue
            try:
                st = path.stat()
            except OSError:  # a dangling link: recorded as missing by the worker
                st = None
            rel = path.relative_to(src).as_posix()
            items.append(
                {"path": rel, "bytes": st.st_size if st else None, "mtime_ns": st.st_mtime_ns if st else None}
            )
    items.sort(key=lambda it: it["path"])
    return items, skipped


def short_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the shorter side `size` and the longer one scaled alike (rounded)."""
    if width <= height:
        return size, max(size, round(height * size / width))
    return max(size, round(width * size / height)), size


def resize_short_side(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The image resized so its shorter side is `size` (area filter down, bicubic up) and the scale."""
    import cv2

    h, w = bgr.shape[:2]
    scale = size / min(h, w)
    nw, nh = short_side_size(w, h, size)
    if (nw, nh) == (w, h):
        return bgr, 1.0
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(bgr, (nw, nh), interpolation=interp), scale


def encode(bgr: np.ndarray, fmt: str, quality: int) -> bytes:
    """Deterministic JPEG or PNG bytes (for a given OpenCV build)."""
    import cv2

    if fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR array
        raise RuntimeError(f"{fmt} encoding failed")
    return buf.tobytes()


def _row(rel: str, status: str, **kw: Any) -> dict[str, Any]:
    row = {
        "key": None,
        "shard": None,
        "source_path": rel,
        "source_md5": None,
        "source_width": None,
        "source_height": None,
        "width": None,
        "height": None,
        "scale": None,
        "status": status,
        "error": None,
    }
    row.update(kw)
    return row


def content_chunk(chunk: Chunk[dict[str, Any]], job: ContentJob) -> ChunkResult:
    """Work function (runs in worker processes): the samples, manifest rows and counters of a chunk."""
    import cv2

    from core.images import MISSING, ImageRejected, load_image
    from schemas.content import STATUS_ERROR, STATUS_OK, STATUS_TOO_SMALL

    cv2.setNumThreads(1)  # parallelism comes from --workers processes
    delay = float(os.environ.get(_DELAY_ENV) or 0)
    res = ChunkResult()
    for item in chunk.items:
        if delay:
            time.sleep(delay)
        rel = item["path"]
        shown = shown_path(rel)
        res.counters["sources_seen"] += 1
        md5 = None
        try:
            data = (Path(job.src) / rel).read_bytes()  # the real name, not the shown one
            md5 = hashlib.md5(data).hexdigest()
            bgr = load_image(data, max_pixels=job.max_pixels, bgr=True)
        except FileNotFoundError:
            res.rows.append(_row(shown, MISSING, error="the file disappeared while running"))
            res.counters[f"rejected_{MISSING}"] += 1
            continue
        except ImageRejected as e:
            res.rows.append(_row(shown, e.reason, source_md5=md5, error=e.detail[:300]))
            res.counters[f"rejected_{e.reason}"] += 1
            continue
        except (cv2.error, MemoryError, OSError, ValueError) as e:
            # Whatever else one odd file can provoke: record it and carry on with the others.
            detail = f"{type(e).__name__}: {str(e).strip()[-300:]}"
            res.rows.append(_row(shown, STATUS_ERROR, source_md5=md5, error=detail))
            res.counters[f"rejected_{STATUS_ERROR}"] += 1
            continue
        h, w = bgr.shape[:2]
        source = {"source_md5": md5, "source_width": w, "source_height": h}
        if min(h, w) * MAX_UPSCALE < job.size:
            detail = f"shorter side {min(h, w)} px is under --size {job.size} / {MAX_UPSCALE:g}"
            res.rows.append(_row(shown, STATUS_TOO_SMALL, error=detail, **source))
            res.counters[f"rejected_{STATUS_TOO_SMALL}"] += 1
            continue
        out, scale = resize_short_side(bgr, job.size)
        scale = round(scale, 6)
        oh, ow = out.shape[:2]
        key = source_key(rel)
        meta = {
            "source_path": shown,
            "source_md5": md5,
            "source_size": [w, h],
            "width": ow,
            "height": oh,
            "scale": scale,
        }
        js = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        res.samples.append((key, {job.format: encode(out, job.format, job.quality), "json": js}))
        res.rows.append(
            _row(shown, STATUS_OK, key=key, shard=chunk.shard, width=ow, height=oh, scale=scale, **source)
        )
        res.counters["sources_ok"] += 1
        if scale > 1:
            res.counters["upscaled"] += 1
    return res


def check_options(src: Path, out: Path, size: int, fmt: str, shard_size: int, workers: int) -> None:
    """UserError naming the option when a value makes no sense."""
    if not 16 <= size <= 4096:
        raise UserError(f"--size {size}: use a shorter side between 16 and 4096 pixels")
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: use jpg or png")
    if shard_size < 1:
        raise UserError(f"--shard-size {shard_size}: use 1 or more images per shard")
    if workers < 0:
        raise UserError(f"--workers {workers}: use 1 or more (0: one per CPU core)")
    if not src.exists():
        raise UserError(f"--src {src}: no such folder; give a folder of images (your photos, or data/raw)")
    if not src.is_dir():
        raise UserError(f"--src {src}: not a folder; give a folder of images")
    if out.resolve() == src.resolve():
        raise UserError(f"--out {out}: must differ from --src")


def run_images(
    src: str | Path,
    out: str | Path,
    size: int = 256,
    fmt: str = "jpg",
    shard_size: int = 1000,
    workers: int = 1,
) -> dict[str, Any]:
    """The whole stage: shards, content.parquet, shards.json and _stats.json under `out`; returns the stats."""
    import cv2

    from core.atomic import ensure_out_dir
    from core.images import DEFAULT_MAX_PIXELS
    from core.stats import write_stats
    from prep.shardjob import run_figures, run_shard_jobs, source_figures, write_manifest
    from schemas.content import CONTENT_SCHEMA

    src, out = Path(src), Path(out)
    check_options(src, out, size, fmt, shard_size, workers)
    items, skipped = find_sources(src, exclude=out)  # --out may lie inside --src
    if not items:
        raise UserError(
            f"--src {src}: no image files ({', '.join(IMAGE_SUFFIXES)}) under it; give a folder of images"
        )
    ensure_out_dir(out)
    workers = workers or os.cpu_count() or 1
    job = ContentJob(
        size, fmt, JPEG_QUALITY, DEFAULT_MAX_PIXELS, ALGORITHM_VERSION, cv2.__version__, str(src.resolve())
    )
    t0 = time.perf_counter()
    run = run_shard_jobs(
        out,
        PREFIX,
        items,
        shard_size,
        content_chunk,
        job,
        item_id=lambda it: (it["path"], it["bytes"], it["mtime_ns"]),
        workers=workers,
        desc="images",
    )
    seconds = time.perf_counter() - t0
    write_manifest(out, MANIFEST_NAME, run.rows, CONTENT_SCHEMA)

    c = run.counters
    stats = {
        "src": str(src.resolve()),
        **source_figures(c),
        "upscaled": c.get("upscaled", 0),
        "files_skipped": skipped,
        **run_figures(run, seconds, workers, shard_size),
        "options": job.identity(),
    }
    write_stats(out, "images", stats)
    return stats


def summary(stats: dict[str, Any], out: Path) -> str:
    """The one-line end-of-stage summary."""
    from core.stats import summary_line

    keys = ["sources_seen", "sources_ok", "sources_rejected", "upscaled", "files_skipped", "shards"]
    keys += ["shards_resumed", "seconds", "images_per_s", "out"]
    line = summary_line("images", {**stats, "out": str(out)}, keys)
    if stats["rejected_by_reason"]:
        line += " (" + ", ".join(f"{k}={v}" for k, v in stats["rejected_by_reason"].items()) + ")"
    return line
