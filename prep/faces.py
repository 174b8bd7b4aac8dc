"""`prep faces`: find anime faces in the raw store and write square crops as WebDataset shards.

Detection is nagadomi's lbpcascade_animeface with its README's recipe (grey, equalised,
`detectMultiScale(scaleFactor=1.1, minNeighbors=5)`), run on a reduced image when the smallest
face wanted (`--min-face`) is far larger than the cascade's 24-pixel window. The reduction is a
whole power of the scale factor chosen so that the reduced image still holds the pyramid levels
from two steps under `--min-face` upwards; the smaller levels, which cost most, are skipped, and
OpenCV scans the mid-sized levels with its 2-pixel step. The same faces come out as at full
resolution (boxes mapped back to source pixels, typically within 5 px, at most about one pyramid
step) at a quarter of the cost; see docs/benchmarks.md.

Every source gives manifest rows: one per face kept, or one with the reason it gave none.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from prep.shardjob import Chunk, ChunkResult, JobParams, locator

if TYPE_CHECKING:
    import numpy as np

PREFIX = "faces"
MANIFEST_NAME = "faces.parquet"
CASCADE_WINDOW = 24  # lbpcascade_animeface's training window (pixels)
# Pyramid levels kept below --min-face when detecting on a reduced image: neighbours one or two
# levels down still vote for a face of exactly --min-face, as they do at full resolution.
_SAFETY_LEVELS = 2
PNG_COMPRESSION = 6
# Bump when the crops or the sample JSON change for the same inputs and options: finished
# shards of an older version are then recomputed instead of resumed.
ALGORITHM_VERSION = 1
_DELAY_ENV = "PREP_FACES_TEST_DELAY"  # hidden: seconds to sleep per source (kill/resume tests)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceOptions:
    """The stage's options (defaults are the CLI's)."""

    size: int = 96
    margin: float = 0.25
    min_face: int = 64
    scale_factor: float = 1.1
    min_neighbors: int = 5
    max_pixels: int = 64_000_000

    def check(self) -> None:
        """UserError naming the option when a value makes no sense."""
        if not 8 <= self.size <= 4096:
            raise UserError(f"--size {self.size}: use a side between 8 and 4096 pixels")
        if not 0.0 <= self.margin <= 2.0:
            raise UserError(f"--margin {self.margin}: use a fraction of the face box between 0 and 2")
        if self.min_face < CASCADE_WINDOW:
            raise UserError(
                f"--min-face {self.min_face}: the cascade cannot see faces under its "
                f"{CASCADE_WINDOW}-pixel window; use {CASCADE_WINDOW} or more"
            )
        if not 1.01 <= self.scale_factor <= 2.0:
            raise UserError(f"--scale-factor {self.scale_factor}: use a value between 1.01 and 2.0")
        if not 0 <= self.min_neighbors <= 50:
            raise UserError(f"--min-neighbors {self.min_neighbors}: use a value between 0 and 50")


def reduction(min_face: int, scale_factor: float) -> float:
    """How much to shrink an image before detection: scale_factor**-m (m >= 0) such that the
    cascade's window still covers faces `_SAFETY_LEVELS` pyramid levels below `min_face`."""
    smallest = min_face / scale_factor**_SAFETY_LEVELS
    if smallest <= CASCADE_WINDOW:
        return 1.0
    m = math.floor(math.log(smallest / CASCADE_WINDOW) / math.log(scale_factor) + 1e-9)
    return float(scale_factor**-m)


def detect_faces(
    gray: np.ndarray, cascade: Any, opts: FaceOptions, reduce: bool = True
) -> tuple[list[Box], list[Box]]:
    """Detect faces in an equalised grey image; returns (kept, too_small) boxes in its pixels, sorted.

    With `reduce`, detection runs on a copy shrunk by `reduction(...)` and the boxes are mapped back.
    """
    import cv2

    r = reduction(opts.min_face, opts.scale_factor) if reduce else 1.0
    h, w = gray.shape[:2]
    small = gray
    if r < 1.0:
        sw, sh = max(1, round(w * r)), max(1, round(h * r))
        # INTER_LINEAR is what detectMultiScale itself uses for its pyramid levels.
        small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_LINEAR)
        rx, ry = w / sw, h / sh
    else:
        rx = ry = 1.0
    found = cascade.detectMultiScale(
        small,
        scaleFactor=opts.scale_factor,
        minNeighbors=opts.min_neighbors,
        minSize=(CASCADE_WINDOW, CASCADE_WINDOW),
    )
    boxes: list[Box] = []
    for x, y, bw, bh in (tuple(int(v) for v in b) for b in found):
        bx, by = round(x * rx), round(y * ry)
        bw2, bh2 = round(bw * rx), round(bh * ry)
        boxes.append((max(0, bx), max(0, by), min(bw2, w - max(0, bx)), min(bh2, h - max(0, by))))
    boxes.sort()
    kept = [b for b in boxes if min(b[2], b[3]) >= opts.min_face]
    small_faces = [b for b in boxes if min(b[2], b[3]) < opts.min_face]
    return kept, small_faces


def crop_box(box: Box, margin: float, width: int, height: int) -> Box:
    """The square around `box` grown by `margin` (a fraction of the box's side) on each side,
    shrunk to fit the image if needed and shifted to lie inside it: (x, y, side, side)."""
    x, y, w, h = box
    side = round(max(w, h) * (1 + 2 * margin))
    side = max(1, min(side, width, height))
    cx, cy = x + w / 2, y + h / 2
    x0 = min(max(0, round(cx - side / 2)), width - side)
    y0 = min(max(0, round(cy - side / 2)), height - side)
    return x0, y0, side, side


def crop_face(bgr: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Cut `box` (square) out of `bgr` and resize it to size x size."""
    import cv2

    x, y, s, _ = box
    patch = bgr[y : y + s, x : x + s]
    if s == size:
        return patch.copy()
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(patch, (size, size), interpolation=interp)


def encode_png(bgr: np.ndarray) -> bytes:
    """Deterministic PNG bytes (for a given OpenCV build)."""
    import cv2

    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR array
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def face_key(post_id: int, face_index: int) -> str:
    return f"p{post_id:010d}_f{face_index:02d}"


def _source_row(item: dict[str, Any], status: str, error: str | None, size: tuple[int, int] | None) -> dict:
    return {
        "key": None,
        "shard": None,
        "post_id": int(item["id"]),
        "face_index": None,
        "x": None,
        "y": None,
        "w": None,
        "h": None,
        "crop_x": None,
        "crop_y": None,
        "crop_size": None,
        "source_width": size[0] if size else None,
        "source_height": size[1] if size else None,
        "source_path": item.get("path"),
        "source_md5": item.get("file_md5"),
        "status": status,
        "error": error,
    }


@dataclass(frozen=True)
class FaceJob(JobParams):
    """What a face chunk's output depends on (the fingerprint), and where its input is (locators)."""

    size: int
    margin: float
    min_face: int
    scale_factor: float
    min_neighbors: int
    max_pixels: int
    cascade_sha256: str  # the cascade is identified by its content ...
    version: int
    opencv: str
    src: str = locator()  # ... and each source by its path relative to --src, so moving either
    cascade: str = locator()  # keeps every finished shard

    @classmethod
    def make(cls, opts: FaceOptions, cascade_sha256: str, src: str, cascade: str) -> FaceJob:
        import cv2

        return cls(
            opts.size,
            opts.margin,
            opts.min_face,
            opts.scale_factor,
            opts.min_neighbors,
            opts.max_pixels,
            cascade_sha256,
            ALGORITHM_VERSION,
            cv2.__version__,
            src,
            cascade,
        )

    def options(self) -> FaceOptions:
        return FaceOptions(
            self.size, self.margin, self.min_face, self.scale_factor, self.min_neighbors, self.max_pixels
        )


def process_chunk(chunk: Chunk[dict[str, Any]], job: FaceJob) -> ChunkResult:
    """Work function (runs in worker processes): the face samples, manifest rows and counters of a chunk."""
    import cv2

    from core.images import ImageRejected
    from prep.cascade import load_cascade
    from schemas.faces import STATUS_ERROR

    cv2.setNumThreads(1)  # parallelism comes from --workers processes
    opts = job.options()
    clf = load_cascade(job.cascade)
    delay = float(os.environ.get(_DELAY_ENV) or 0)
    res = ChunkResult()
    for item in chunk.items:
        if delay:
            time.sleep(delay)
        res.counters["sources_seen"] += 1
        try:
            _process_source(item, job.src, clf, opts, chunk.shard, res)
        except ImageRejected as e:
            res.rows.append(_source_row(item, e.reason, e.detail, None))
            res.counters[f"rejected_{e.reason}"] += 1
        except (cv2.error, MemoryError, OSError, ValueError) as e:
            # Whatever else one odd file can provoke: record it and carry on with the others.
            detail = f"{type(e).__name__}: {str(e).strip()[-300:]}"
            res.rows.append(_source_row(item, STATUS_ERROR, detail, None))
            res.counters[f"rejected_{STATUS_ERROR}"] += 1
    return res


def _process_source(
    item: dict[str, Any], src: str, clf: Any, opts: FaceOptions, shard: str, res: ChunkResult
) -> None:
    """Decode one source, detect, and append its samples, rows and counters to `res`."""
    import cv2

    from core.images import ImageRejected, load_image
    from schemas.faces import STATUS_FACES_TOO_SMALL, STATUS_NO_FACE, STATUS_OK

    path = item.get("path")
    if not path:
        raise ImageRejected("missing", "the manifest row has no path")
    bgr = load_image(Path(src) / path, max_pixels=opts.max_pixels, bgr=True)
    height, width = bgr.shape[:2]
    gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    kept, too_small = detect_faces(gray, clf, opts)
    if not kept:
        res.counters["faces_found"] += len(too_small)
        res.counters["faces_too_small"] += len(too_small)
        status = STATUS_FACES_TOO_SMALL if too_small else STATUS_NO_FACE
        detail = f"{len(too_small)} face(s) under --min-face {opts.min_face}" if too_small else None
        res.rows.append(_source_row(item, status, detail, (width, height)))
        res.counters[f"rejected_{status}"] += 1
        return
    samples, rows = [], []
    for index, box in enumerate(kept):
        cb = crop_box(box, opts.margin, width, height)
        key = face_key(int(item["id"]), index)
        meta = {
            "post_id": int(item["id"]),
            "face_index": index,
            "box": list(box),
            "crop_box": list(cb),
            "source_size": [width, height],
            "tags": [str(t) for t in item.get("tags") or []],
            "rating": item.get("rating"),
            "source_md5": item.get("file_md5"),
            "size": opts.size,
        }
        png = encode_png(crop_face(bgr, cb, opts.size))
        js = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
        samples.append((key, {"png": png, "json": js}))
        row = _source_row(item, STATUS_OK, None, (width, height))
        row.update(key=key, shard=shard, face_index=index, x=box[0], y=box[1], w=box[2], h=box[3])
        row.update(crop_x=cb[0], crop_y=cb[1], crop_size=cb[2])
        rows.append(row)
    # Only a source that went through completely contributes samples (never half of its faces).
    res.samples.extend(samples)
    res.rows.extend(rows)
    res.counters["sources_ok"] += 1
    res.counters["faces_kept"] += len(samples)
    res.counters["faces_found"] += len(kept) + len(too_small)
    res.counters["faces_too_small"] += len(too_small)


def load_sources(src: Path) -> list[dict[str, Any]]:
    """The usable posts of `<src>/posts.parquet` (status ok), sorted by post id."""
    from prep.posts import read_posts

    rows = read_posts(src, ["id", "path", "file_md5", "tags", "rating"])
    return [{**r, "id": int(r["id"]), "tags": list(r["tags"] or [])} for r in rows]


def run_faces(
    src: str | Path,
    out: str | Path,
    opts: FaceOptions,
    cascade: str | Path | None = None,
    workers: int = 1,
    shard_size: int = 1000,
) -> dict[str, Any]:
    """The whole stage: shards, faces.parquet, shards.json and _stats.json under `out`; returns the stats."""
    from core.atomic import ensure_out_dir
    from core.stats import write_stats
    from prep.cascade import load_cascade, resolve_cascade, sha256_file
    from prep.shardjob import run_figures, run_shard_jobs, source_figures, write_manifest
    from schemas.faces import FACES_SCHEMA

    opts.check()
    if workers < 1:
        raise UserError(f"--workers {workers}: use 1 or more")
    if shard_size < 1:
        raise UserError(f"--shard-size {shard_size}: use 1 or more source images per shard")
    src, out = Path(src), Path(out)
    items = load_sources(src)
    cascade_file = resolve_cascade(cascade)
    load_cascade(cascade_file)  # fail early, in the main process, on a file OpenCV cannot read
    ensure_out_dir(out)

    job = FaceJob.make(opts, sha256_file(cascade_file), str(src.resolve()), str(cascade_file.resolve()))
    t0 = time.perf_counter()
    run = run_shard_jobs(
        out,
        PREFIX,
        items,
        shard_size,
        process_chunk,
        job,
        # tags and rating go into each sample's JSON, so a retagged post is recomputed too
        item_id=lambda it: (it["id"], it["file_md5"], it["path"], it["tags"], it["rating"]),
        workers=workers,
        desc="faces",
    )
    seconds = time.perf_counter() - t0
    write_manifest(out, MANIFEST_NAME, run.rows, FACES_SCHEMA)

    c = run.counters
    stats = {
        **source_figures(c),
        "faces_found": c.get("faces_found", 0),
        "faces_kept": c.get("faces_kept", 0),
        "faces_too_small": c.get("faces_too_small", 0),
        **run_figures(run, seconds, workers, shard_size),
        "reduction": round(reduction(opts.min_face, opts.scale_factor), 4),
        "options": job.identity(),
    }
    write_stats(out, "faces", stats)
    return stats


def summary(stats: dict[str, Any]) -> str:
    """The one-line end-of-stage summary."""
    from core.stats import summary_line

    line = summary_line(
        "faces",
        stats,
        [
            "sources_seen",
            "sources_ok",
            "sources_rejected",
            "faces_kept",
            "faces_too_small",
            "shards",
            "shards_resumed",
            "seconds",
            "images_per_s",
        ],
    )
    if stats["rejected_by_reason"]:
        line += " (" + ", ".join(f"{k}={v}" for k, v in stats["rejected_by_reason"].items()) + ")"
    return line
