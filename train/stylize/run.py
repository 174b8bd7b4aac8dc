"""`train stylize`: an image or a video through a trained fast-style network.

Whether `--in` is an image is decided from its bytes (PNG, JPEG, WebP, GIF, BMP, TIFF signatures),
anything else is opened as a video with OpenCV. Videos are streamed: a reader thread decodes
frames into a small queue, the main thread stylises them `batch` at a time on the device, and a
writer thread encodes them (cv2.VideoWriter, mp4v) and feeds the warping-error meter; at most a
few batches of frames are in memory at any time. The video is written to a temporary name beside
OUT and renamed when complete; the input's frame rate and size are kept.

Beside OUT, `OUT.json` (same stem) holds `frames`, `fps`, `seconds` (wall time of the run),
`frames_per_s`, `duration_s` (of the video), `width`, `height`, `warp_error` and
`input_warp_error` (see train.stylize.warp), the checkpoint and the settings.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.atomic import atomic_write_bytes, atomic_write_json
from core.errors import UserError
from core.images import ImageRejected, load_image, sniff_format
from train.stylize.frames import PRESERVE_COLOR, Stylizer, preserve_luminance
from train.stylize.warp import WarpError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
_QUEUE = 8  # frames waiting on each side of the model


def json_path(out: str | Path) -> Path:
    """`OUT.json` beside OUT, same stem (clip.mp4 -> clip.json)."""
    out = Path(out)
    return out.with_suffix(".json")


def is_image_file(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(64)
    return sniff_format(head) is not None


def stylize(
    ckpt: str,
    inp: str,
    out: str,
    preserve_color: str = "none",
    device: str = "cpu",
    precision: str = "fp32",
    tile: int = 2048,
    overlap: int = 128,
    batch: int = 1,
    warp_error: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Stylise `inp` (image or video) into `out`; returns what OUT.json holds."""
    from train.fast_style.checkpoint import load_transformer

    if preserve_color not in PRESERVE_COLOR:
        raise UserError(
            f"--preserve-color must be one of {', '.join(PRESERVE_COLOR)}, not {preserve_color!r}"
        )
    if tile < 16:
        raise UserError(f"--tile must be at least 16 px, not {tile}")
    if not 0 <= overlap < tile:
        raise UserError(f"--tile-overlap {overlap} must be at least 0 and smaller than --tile {tile}")
    if batch < 1:
        raise UserError(f"--batch must be at least 1, not {batch}")
    src = Path(inp)
    if not src.is_file():
        raise UserError(f"--in {src}: no such file; give an image or a video")
    dst = Path(out)
    if dst.resolve() == src.resolve():
        raise UserError(f"--out {dst} is the input itself; choose another --out")
    image = is_image_file(src)
    suffixes = IMAGE_SUFFIXES if image else VIDEO_SUFFIXES
    if dst.suffix.lower() not in suffixes:
        what = "an image" if image else "a video"
        raise UserError(f"--out {dst}: --in is {what}; give --out one of {', '.join(suffixes)}")
    net, opts = load_transformer(ckpt, device)
    stylizer = Stylizer(net, device, precision, tile, overlap)
    settings = {
        "ckpt": opts["snapshot"], "in": str(src), "out": str(dst), "preserve_color": preserve_color,
        "device": device, "precision": precision, "tile": tile, "tile_overlap": overlap, "batch": batch,
    }  # fmt: skip
    t0 = time.perf_counter()
    if image:
        result = _image(stylizer, src, dst, preserve_color)
    else:
        result = _video(stylizer, src, dst, preserve_color, batch, warp_error, progress)
    seconds = time.perf_counter() - t0
    result.update(seconds=round(seconds, 3), frames_per_s=round(result["frames"] / max(seconds, 1e-9), 3))
    record = {**result, "settings": settings}
    atomic_write_json(json_path(dst), record)
    return record


def _image(stylizer: Stylizer, src: Path, dst: Path, preserve_color: str) -> dict[str, Any]:
    try:
        img = load_image(src, bgr=True)
    except ImageRejected as e:
        raise UserError(f"--in {src}: not a usable image ({e.reason}: {e.detail})") from None
    out = stylizer([img])[0]
    if preserve_color == "luminance":
        out = preserve_luminance(out, img)
    ok, buf = cv2.imencode(dst.suffix.lower(), out)
    if not ok:
        raise UserError(f"--out {dst}: OpenCV cannot write this image format; use .png or .jpg")
    atomic_write_bytes(dst, buf.tobytes())
    h, w = out.shape[:2]
    return {"kind": "image", "frames": 1, "fps": None, "width": w, "height": h, "tiles": stylizer.tiles_last}


def open_video(src: Path) -> tuple[Any, float, int, int, int]:
    """(capture, fps, width, height, frame count or 0); UserError for a file OpenCV cannot read."""
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise UserError(f"--in {src}: neither an image nor a video OpenCV can open; give a readable file")
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return cap, fps, w, h, max(n, 0)


def _reader(cap: Any, q: queue.Queue, stop: threading.Event) -> None:
    """Decode frames into `q`; None at the end (an exception object on failure)."""
    try:
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok:
                break
            q.put(frame)
    except BaseException as e:  # handed to the main thread
        q.put(e)
        return
    q.put(None)


def _frames(q: queue.Queue) -> Iterator[np.ndarray]:
    while True:
        item = q.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _writer(writer: Any, q: queue.Queue, meter: WarpError | None, errors: list[BaseException]) -> None:
    """Encode (src, out) pairs from `q` until None; feed the warping-error meter."""
    try:
        while (item := q.get()) is not None:
            src, out = item
            writer.write(out)
            if meter is not None:
                meter.add(src, out)
    except BaseException as e:
        errors.append(e)
        while q.get() is not None:  # keep draining so the producer never blocks
            pass


def _video(
    stylizer: Stylizer, src: Path, dst: Path, preserve_color: str, batch: int, warp: bool, progress: bool
) -> dict[str, Any]:
    from tqdm import tqdm

    cap, fps, w, h, count = open_video(src)
    fps_known = fps > 0 and np.isfinite(fps)
    fps_out = fps if fps_known else 30.0
    tmp = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp{dst.suffix}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    in_q: queue.Queue = queue.Queue(_QUEUE)
    out_q: queue.Queue = queue.Queue(_QUEUE)
    meter = WarpError() if warp else None
    errors: list[BaseException] = []
    reader = threading.Thread(target=_reader, args=(cap, in_q, stop), daemon=True)
    writer = None
    writer_thread = None
    frames = 0
    bar = tqdm(total=count or None, unit="frame", desc="stylize", disable=not progress, dynamic_ncols=True)
    try:
        reader.start()
        it = _frames(in_q)
        while True:
            chunk = [f for _, f in zip(range(batch), it, strict=False)]
            if not chunk:
                break
            if writer is None:
                h, w = chunk[0].shape[:2]
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps_out, (w, h))
                if not writer.isOpened():
                    raise UserError(f"--out {dst}: OpenCV cannot write an mp4v video there; use a .mp4 name")
                writer_thread = threading.Thread(
                    target=_writer, args=(writer, out_q, meter, errors), daemon=True
                )
                writer_thread.start()
            outs = stylizer(chunk)
            for s, o in zip(chunk, outs, strict=True):
                if preserve_color == "luminance":
                    o = preserve_luminance(o, s)
                out_q.put((s, o))
            frames += len(chunk)
            bar.update(len(chunk))
            if errors:
                raise errors[0]
        if frames == 0:
            raise UserError(f"--in {src}: OpenCV opens it but reads no frames; give a readable video")
        out_q.put(None)
        assert writer_thread is not None
        writer_thread.join()
        if errors:
            raise errors[0]
        writer.release()
        writer = None
        os.replace(tmp, dst)
    except BaseException:
        stop.set()
        _drain(in_q, reader)
        if writer_thread is not None and writer_thread.is_alive():
            out_q.put(None)
            writer_thread.join()
        if writer is not None:
            writer.release()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        bar.close()
        cap.release()
    figures = meter.result() if meter is not None else {"warp_error": None, "input_warp_error": None}
    return {
        "kind": "video", "frames": frames, "fps": fps_out, "fps_known": bool(fps_known), "width": w,
        "height": h, "duration_s": round(frames / fps_out, 3), "tiles": stylizer.tiles_last, **figures,
    }  # fmt: skip


def _drain(q: queue.Queue, thread: threading.Thread) -> None:
    """Unblock and finish a reader thread that may be waiting on a full queue."""
    while thread.is_alive():
        with contextlib.suppress(queue.Empty):
            q.get(timeout=0.05)


def summary(r: dict[str, Any]) -> str:
    """The command's one-line summary."""
    s = r["settings"]
    line = f"stylize: {s['in']} -> {s['out']}, {r['width']}x{r['height']}"
    if r["kind"] == "video":
        line += f", {r['frames']} frames at {r['fps']:g} fps in {r['seconds']:.1f} s ({r['frames_per_s']:.2f} frames/s)"
        if r.get("warp_error") is not None:
            line += f", warp error {r['warp_error']:.2f} (input {r['input_warp_error']:.2f})"
    else:
        line += f" in {r['seconds']:.1f} s" + (f" ({r['tiles']} tiles)" if r["tiles"] > 1 else "")
    return line
