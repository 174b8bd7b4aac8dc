"""`prep canny`: pseudo line art (Canny edges) paired with the colour image and its tag vector.

The line art is exactly `255 - cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), low, high)`
with OpenCV's defaults apertureSize=3 (3x3 Sobel) and L2gradient=False (|dx| + |dy|), i.e. black
lines on white; `invert=False` keeps white lines on black. It is computed on the very pixels
stored as `<key>.color.png`, so decoding that PNG and calling OpenCV again gives the same bytes.

Sources: face shards (`prep faces`: one input shard -> one output shard, same index, key kept)
or a raw crawl (`posts.parquet`: each ok post's image, resized so its shorter side is `size`
(INTER_AREA when shrinking, INTER_CUBIC when enlarging) and centre-cropped to a square, key
`p<post_id:010d>`). A face crop keeps its size unless `size` is given (then it is resized the
same way). Sources that cannot be used are recorded in `lineart.parquet` with the reason.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import struct
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import UserError
from core.vocab import Vocab
from prep.shardjob import Chunk, ChunkResult, JobParams, rejected_by_reason, run_shard_jobs, write_manifest

PREFIX = "lineart"
MANIFEST_NAME = "lineart.parquet"
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"


def line_art(rgb: np.ndarray, low: int, high: int, invert: bool = True) -> np.ndarray:
    """Canny edges of an RGB uint8 image (HxWx3), one channel uint8; inverted: black lines on white."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return _edges(gray, low, high, invert)


def _edges(gray: np.ndarray, low: int, high: int, invert: bool) -> np.ndarray:
    edges = cv2.Canny(gray, low, high, apertureSize=3, L2gradient=False)
    return 255 - edges if invert else edges


def encode_png(img: np.ndarray) -> bytes:
    """Deterministic PNG bytes of a uint8 image (BGR order for 3 channels, as OpenCV writes)."""
    ok, buf = cv2.imencode(".png", img, PNG_PARAMS)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def square_resize(img: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Resize so the shorter side is `size`, centre-crop to size x size.

    Returns the square and the crop box (x, y, w, h): the centre square of the input it shows
    (to within a pixel, from rounding the resized size).
    """
    h, w = img.shape[:2]
    scale = size / min(h, w)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = cv2.resize(img, (nw, nh), interpolation=interp)
    x0, y0 = (nw - size) // 2, (nh - size) // 2
    side = min(h, w)
    box = ((w - side) // 2, (h - side) // 2, side, side)
    return np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size]), box


@dataclass(frozen=True)
class CannyJob(JobParams):
    """What the output depends on, besides the input (the shard jobs' fingerprint)."""

    low: int
    high: int
    invert: bool
    size: int | None
    vocab_tags: tuple[str, ...]
    vocab_hash: str

    def vocab(self) -> Vocab:
        return Vocab(tags=self.vocab_tags, hash=self.vocab_hash)


def _row(key: str, source: str, status: str, **kw: Any) -> dict[str, Any]:
    row = {
        "key": key,
        "shard": None,
        "post_id": None,
        "face_index": None,
        "source": source,
        "status": status,
        "error": None,
        "width": None,
        "height": None,
        "n_tags": None,
        "edge_fraction": None,
    }
    row.update(kw)
    return row


def _sample(
    key: str,
    colour_png: bytes,
    gray: np.ndarray,
    meta: dict[str, Any],
    vocab: Vocab,
    job: CannyJob,
    source: str,
    shard: str,
    out: ChunkResult,
) -> None:
    """Add one finished sample (colour PNG bytes + grayscale pixels) and its manifest row."""
    low, high, invert = job.low, job.high, job.invert
    line = _edges(gray, low, high, invert)
    h, w = gray.shape
    tags = [t for t in meta.get("tags") or [] if isinstance(t, str)]
    vec = vocab.vector(tags)
    buf = _npy_bytes(vec)
    obj = {
        "post_id": int(meta["post_id"]),
        "face_index": meta.get("face_index"),
        "source": meta["source"],
        "source_md5": meta.get("source_md5"),
        "crop_box": meta.get("crop_box"),
        "tags": tags,
        "rating": meta.get("rating"),
        "width": int(w),
        "height": int(h),
        "low": low,
        "high": high,
        "invert": invert,
        "vocab_hash": vocab.hash,
    }
    js = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    out.samples.append(
        (key, {"color.png": colour_png, "line.png": encode_png(line), "tags.npy": buf, "json": js})
    )
    n_edges = int(np.count_nonzero(line == 0)) if invert else int(np.count_nonzero(line))
    out.rows.append(
        _row(
            key,
            source,
            "ok",
            shard=shard,
            post_id=obj["post_id"],
            face_index=obj["face_index"],
            width=w,
            height=h,
            n_tags=int(vec.sum()),
            edge_fraction=n_edges / float(h * w),
        )
    )
    out.counters["samples"] += 1


@functools.lru_cache(maxsize=8)
def _npy_header(length: int) -> bytes:
    """The .npy header of a uint8 vector of `length` (what np.save writes before the data)."""
    f = io.BytesIO()
    np.save(f, np.zeros(length, np.uint8), allow_pickle=False)
    return f.getvalue()[: -length or None]


def _npy_bytes(vec: np.ndarray) -> bytes:
    """np.save's bytes for a 1-D uint8 vector, without its per-call overhead."""
    return _npy_header(vec.shape[0]) + vec.tobytes()


def _decode_face(data: bytes) -> tuple[np.ndarray, bool]:
    """Decode a face crop to BGR uint8; the flag says whether `data` is already a plain 8-bit RGB PNG.

    The common case (our own RGB PNGs) is decoded straight with OpenCV; anything else goes through
    core.images.load_image, which raises ImageRejected with the reason.
    """
    from core.images import DEFAULT_MAX_PIXELS, load_image

    if data.startswith(_PNG_MAGIC) and data.endswith(_PNG_IEND) and len(data) > 33:
        w, h = struct.unpack(">II", data[16:24])  # IHDR, checked before decoding (no bombs)
        if 0 < w * h <= DEFAULT_MAX_PIXELS:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if img is not None and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
                return img, True
    return load_image(data, bgr=True), False


def faces_chunk(chunk: Chunk[str], job: CannyJob) -> ChunkResult:
    """Work function for face shards: every sample of the chunk's input shard(s) (absolute paths)."""
    from core.shards import iter_samples

    vocab = job.vocab()
    out = ChunkResult()
    for path in chunk.items:
        name = os.path.basename(path)
        try:
            samples = list(iter_samples(path))
        except (tarfile.TarError, OSError, EOFError) as e:
            out.rows.append(_row(Path(name).stem.replace(".", "_"), name, "bad_shard", error=str(e)[:200]))
            out.counters["rejected_bad_shard"] += 1
            continue
        for key, files in samples:
            status, detail = _face_sample(key, files, name, chunk.shard, vocab, job, out)
            if status != "ok":
                post_id = None
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    post_id = int(json.loads(files["json"])["post_id"])
                out.rows.append(_row(key, name, status, error=detail, post_id=post_id))
                out.counters[f"rejected_{status}"] += 1
    return out


def _face_sample(
    key: str,
    files: dict[str, bytes],
    source: str,
    shard: str,
    vocab: Vocab,
    job: CannyJob,
    out: ChunkResult,
) -> tuple[str, str | None]:
    from core.images import ImageRejected

    size = job.size

    image_ext = next((e for e in ("png", "jpg", "jpeg", "webp") if e in files), None)
    if image_ext is None:
        return "no_image", f"fields {sorted(files)}"
    if "json" not in files:
        return "no_json", f"fields {sorted(files)}"
    try:
        meta = json.loads(files["json"])
        meta["post_id"] = int(meta["post_id"])
        if meta.get("face_index") is not None:
            meta["face_index"] = int(meta["face_index"])
        if meta.get("crop_box") is not None:
            meta["crop_box"] = [int(v) for v in meta["crop_box"]]
        if meta.get("rating") is not None and not isinstance(meta["rating"], str):
            raise TypeError("rating is not a string")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as e:
        return "bad_json", str(e)[:200]
    try:
        bgr, plain = _decode_face(files[image_ext])
    except ImageRejected as e:
        return e.reason, f"{key}.{image_ext}: {e.detail}"
    if size is not None and bgr.shape[:2] != (size, size):
        bgr, _ = square_resize(bgr, size)
        plain = False
    colour_png = files[image_ext] if plain else encode_png(bgr)
    meta = {**meta, "source": "faces"}
    # BGR2GRAY on BGR pixels is the same computation as RGB2GRAY on the RGB pixels.
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    _sample(key, colour_png, gray, meta, vocab, job, source, shard, out)
    return "ok", None


def raw_chunk(chunk: Chunk[dict[str, Any]], job: CannyJob) -> ChunkResult:
    """Work function for a raw crawl: one sample per post (items: id, path, abspath, tags, ...)."""
    from core.images import ImageRejected, load_image

    assert job.size is not None
    vocab = job.vocab()
    out = ChunkResult()
    for post in chunk.items:
        key = f"p{post['id']:010d}"
        try:
            rgb = load_image(Path(post["abspath"]))
        except ImageRejected as e:
            out.rows.append(_row(key, post["path"], e.reason, error=e.detail[:200], post_id=post["id"]))
            out.counters[f"rejected_{e.reason}"] += 1
            continue
        square, box = square_resize(rgb, job.size)
        bgr = cv2.cvtColor(square, cv2.COLOR_RGB2BGR)
        meta = {
            "post_id": post["id"],
            "face_index": None,
            "source": "raw",
            "source_md5": post.get("file_md5"),
            "crop_box": list(box),
            "tags": post.get("tags") or [],
            "rating": post.get("rating"),
        }
        gray = cv2.cvtColor(square, cv2.COLOR_RGB2GRAY)
        _sample(key, encode_png(bgr), gray, meta, vocab, job, post["path"], chunk.shard, out)
    return out


def detect_source(src: Path, source: str) -> str:
    """`faces` or `raw`, from `--source` or from what `--src` holds; UserError when unusable."""
    if not src.exists():
        raise UserError(f"--src {src}: no such folder; run `prep faces` (or `prep crawl`) first")
    if not src.is_dir():
        raise UserError(f"--src {src}: not a folder; give the folder of face shards or of a crawl")
    has_raw = (src / "posts.parquet").is_file()
    has_shards = (src / "shards.json").is_file() or any(src.glob("*.tar"))
    if source == "auto":
        if has_shards:
            return "faces"
        if has_raw:
            return "raw"
        raise UserError(
            f"--src {src}: empty (no shards.json, *.tar or posts.parquet); run `prep faces` or `prep crawl` first"
        )
    if source == "faces" and not has_shards:
        raise UserError(f"--src {src}: no face shards (shards.json or *.tar) there; run `prep faces` first")
    if source == "raw" and not has_raw:
        raise UserError(f"--src {src}: no posts.parquet there; run `prep crawl` first")
    if source not in ("faces", "raw"):
        raise UserError(f"--source {source}: use faces, raw or auto")
    return source


def face_items(src: Path) -> tuple[list[str], dict[str, tuple[str, int, str]]]:
    """The input shards' absolute paths in index order, and each path's identity (url, size, md5)."""
    from core.shards import read_index, shard_info

    if (src / "shards.json").is_file():
        try:
            infos = read_index(src)
        except (ValueError, json.JSONDecodeError) as e:
            raise UserError(f"--src {src}: unreadable shards.json ({e}); rerun `prep faces`") from e
    else:
        try:
            infos = [shard_info(p) for p in sorted(src.glob("*.tar"))]
        except (tarfile.TarError, OSError, EOFError) as e:
            raise UserError(f"--src {src}: a shard cannot be read ({e}); rerun `prep faces`") from None
    missing = [i.url for i in infos if not (src / i.url).is_file()]
    if missing:
        raise UserError(f"--src {src}: shards.json lists missing shard(s) {missing[:3]}; rerun `prep faces`")
    if not infos:
        raise UserError(f"--src {src}: the face shard index lists no shards; run `prep faces` first")
    paths = [str((src / i.url).resolve()) for i in infos]
    ids = {p: (i.url, i.filesize, i.md5sum) for p, i in zip(paths, infos, strict=True)}
    return paths, ids


def raw_items(src: Path) -> list[dict[str, Any]]:
    """The ok posts of a crawl that have a stored file, sorted by id, with their absolute file paths."""
    from prep.posts import read_posts

    posts = [r for r in read_posts(src, ["id", "tags", "rating", "file_md5", "path"]) if r["path"]]
    if not posts:
        raise UserError(f"--src {src}: posts.parquet has no stored posts with status 'ok'; crawl some first")
    for r in posts:
        r["abspath"] = str((src / r["path"]).resolve())
    return posts


def run_canny(
    src: str | Path,
    out: str | Path,
    vocab_path: str | Path,
    low: int = 100,
    high: int = 200,
    invert: bool = True,
    size: int | None = None,
    source: str = "auto",
    shard_size: int = 1000,
    workers: int = 1,
) -> dict[str, Any]:
    """`prep canny`: write line-art shards, `shards.json`, `lineart.parquet`, `_stats.json`; returns stats."""
    from core.atomic import atomic_write_json, ensure_out_dir
    from core.stats import write_stats
    from core.vocab import load_vocab
    from schemas.lineart import LINEART_SCHEMA

    src, out = Path(src), Path(out)
    if not (0 <= low <= high):
        raise UserError(f"--low {low} --high {high}: need 0 <= low <= high")
    if size is not None and not (8 <= size <= 4096):
        raise UserError(f"--size {size}: use a side between 8 and 4096 pixels")
    if shard_size < 1:
        raise UserError(f"--shard-size {shard_size}: must be at least 1")
    kind = detect_source(src, source)
    if out.resolve() == src.resolve():
        raise UserError(f"--out {out}: must differ from --src")
    vocab = load_vocab(vocab_path)
    ensure_out_dir(out)
    t0 = time.perf_counter()
    if kind == "faces":
        paths, ids = face_items(src)
        items: list[Any] = paths
        item_id: Any = ids.__getitem__
        work: Any = faces_chunk
        chunk = 1  # one output shard per input shard, same index
    else:
        size = size or 256
        items = raw_items(src)
        item_id = _raw_item_id
        work = raw_chunk
        chunk = shard_size
    job = CannyJob(low, high, invert, size, vocab.tags, vocab.hash)
    workers = workers or os.cpu_count() or 1
    run = run_shard_jobs(
        out,
        PREFIX,
        items,
        chunk,
        work,
        job,
        item_id,
        workers=workers,
        desc="canny",
        index_name=PREFIX,
    )
    write_manifest(out, MANIFEST_NAME, run.rows, LINEART_SCHEMA)
    # the vocabulary travels with the shards, so that trainers need no other path
    atomic_write_json(out / "vocab.json", vocab.to_json())
    seconds = time.perf_counter() - t0
    rejected = rejected_by_reason(run.counters)
    stats = {
        "source": kind,
        "src": str(src),
        "samples": run.counters.get("samples", 0),
        "rejected": sum(rejected.values()),
        "rejected_by_reason": rejected,
        "shards": len(run.shards),
        "chunks_total": run.chunks_total,
        "chunks_skipped": run.chunks_skipped,
        "low": low,
        "high": high,
        "invert": invert,
        "size": size,
        "aperture_size": 3,
        "l2_gradient": False,
        "vocab_hash": vocab.hash,
        "vocab_size": len(vocab),
        "workers": workers,
        "seconds": round(seconds, 3),
        # only meaningful when nothing was resumed
        "samples_per_s": round(run.counters.get("samples", 0) / seconds, 1)
        if not run.chunks_skipped
        else None,
    }
    write_stats(out, "canny", stats)
    return stats


def _raw_item_id(post: dict[str, Any]) -> tuple[Any, ...]:
    return (post["id"], post.get("file_md5"), post["path"], post.get("tags"), post.get("rating"))
