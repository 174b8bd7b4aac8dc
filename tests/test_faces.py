"""`prep faces`: geometry, detection with the real cascade, the CLI end to end, resume after SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from core.images import load_image
from core.shards import iter_samples, read_index
from crawl.synthetic import make_illustration, write_raw_store
from prep.faces import FaceOptions, crop_box, crop_face, detect_faces, reduction
from schemas import validate_parquet, validate_sample_json
from schemas.crawl import POSTS_SCHEMA
from schemas.faces import FACE_SAMPLE, FACES_SCHEMA
from schemas.validate import validate_table
from tests.conftest import ROOT, run_cli


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# ---------------------------------------------------------------- geometry


def test_reduction_is_a_power_of_the_scale_factor() -> None:
    assert reduction(24, 1.1) == 1.0
    assert reduction(29, 1.1) == 1.0  # within two pyramid steps of the window: full resolution
    r = reduction(64, 1.1)
    m = round(-np.log(r) / np.log(1.1))
    assert abs(r - 1.1**-m) < 1e-12 and m == 8
    # The window on the reduced image still covers faces two steps under --min-face.
    assert 24 / r <= 64 / 1.1**2
    assert reduction(200, 1.2) < reduction(100, 1.2) < 1.0


def test_crop_box_margin_square_and_clipping() -> None:
    assert crop_box((100, 100, 40, 40), 0.25, 400, 300) == (90, 90, 60, 60)
    assert crop_box((100, 100, 40, 40), 0.0, 400, 300) == (100, 100, 40, 40)
    # Near the top-left corner: shifted inside, still square.
    assert crop_box((0, 2, 40, 40), 0.5, 400, 300) == (0, 0, 80, 80)
    # Near the bottom-right corner.
    assert crop_box((380, 280, 20, 20), 0.5, 400, 300) == (360, 260, 40, 40)
    # Bigger than the image: as large as the short side allows.
    x, y, s, s2 = crop_box((50, 10, 280, 280), 0.5, 400, 300)
    assert s == s2 == 300 and y == 0 and 0 <= x <= 100


def test_crop_face_resizes_both_ways() -> None:
    img = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    assert crop_face(img, (0, 0, 200, 200), 96).shape == (96, 96, 3)
    assert crop_face(img, (10, 10, 40, 40), 96).shape == (96, 96, 3)
    same = crop_face(img, (5, 7, 96, 96), 96)
    assert np.array_equal(same, img[7:103, 5:101])


def test_options_are_checked() -> None:
    from core.errors import UserError

    for bad, word in (
        (FaceOptions(min_face=10), "--min-face"),
        (FaceOptions(size=2), "--size"),
        (FaceOptions(margin=-1), "--margin"),
        (FaceOptions(scale_factor=1.0), "--scale-factor"),
        (FaceOptions(min_neighbors=-1), "--min-neighbors"),
    ):
        with pytest.raises(UserError, match=word):
            bad.check()


# ---------------------------------------------------------------- detection (real cascade)


def test_detects_synthetic_faces_like_full_resolution(cascade_path: Path) -> None:
    clf = cv2.CascadeClassifier(str(cascade_path))
    opts = FaceOptions()
    drawn = found = agree = full_total = 0
    for post_id in range(3000, 3012):
        ill = make_illustration(post_id, seed=5, size=(640, 480))
        gray = cv2.equalizeHist(cv2.cvtColor(ill.image, cv2.COLOR_RGB2GRAY))
        kept, small = detect_faces(gray, clf, opts)
        assert kept == sorted(kept) and all(b[2] >= 64 for b in kept) and all(b[2] < 64 for b in small)
        for face in ill.faces:
            if face[2] >= 80:
                drawn += 1
                found += any(iou(face, k) >= 0.5 for k in kept)
        full, _ = detect_faces(gray, clf, opts, reduce=False)
        full_total += len(full)
        agree += sum(any(iou(f, k) >= 0.5 for k in kept) for f in full)
    assert drawn >= 10
    assert found >= drawn - 1
    assert agree >= full_total - 1  # the same faces as at full resolution


@pytest.mark.slow
def test_reference_images_match_opencv_reference(shared_dir: Path, cascade_path: Path) -> None:
    """../shared/refdata/faces: full-resolution boxes equal the recorded OpenCV 4.14 ones, and the
    reduced detection finds the same faces (IoU >= 0.5) of at least --min-face."""
    folder = shared_dir / "refdata" / "faces"
    ref = json.loads((folder / "detections_opencv-4.14.json").read_text())
    if ref["opencv"] != cv2.__version__:
        pytest.skip(f"reference boxes are for OpenCV {ref['opencv']}, this is {cv2.__version__}")
    clf = cv2.CascadeClassifier(str(cascade_path))
    opts = FaceOptions()
    for name, entry in ref["images"].items():
        expected = sorted(tuple(b) for b in entry["boxes"])
        # The reference decodes with imread (alpha dropped); ours flattens alpha on white.
        bgr = load_image(folder / name, bgr=True)
        assert bgr.shape[:2] == (entry["height"], entry["width"])
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        with Image.open(folder / name) as im:
            opaque = "A" not in im.mode
        if opaque:
            full, small = detect_faces(gray, clf, FaceOptions(min_face=24), reduce=False)
            assert full + small == expected or sorted(full + small) == expected, name
        kept, _ = detect_faces(gray, clf, opts)
        big = [b for b in expected if b[2] >= opts.min_face]
        assert len(kept) == len(big), name
        matched = sum(any(iou(b, k) >= 0.5 for k in kept) for b in big)
        assert matched >= len(big) - (1 if len(big) > 10 else 0), name


# ---------------------------------------------------------------- the stage, end to end


def _bomb_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def _face_rgba_png(post_id: int) -> bytes:
    """A detectable face on a transparent background (a sprite)."""
    ill = make_illustration(post_id, seed=1, size=(400, 400))
    rgba = np.dstack([ill.image, np.full(ill.image.shape[:2], 255, np.uint8)])
    rgba[:, 360:] = 0  # transparent black: must become white, not black
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "zero.jpg": (b"", "empty"),
    "html.jpg": (b"<!DOCTYPE html><html><body>rate limited</body></html>", "not_image"),
    "bomb.png": (_bomb_png(), "too_large"),
    "cut.jpg": (None, "truncated"),  # type: ignore[dict-item]  # filled from a real JPEG below
    "gone.png": (None, "missing"),  # type: ignore[dict-item]  # listed but never written
}


@pytest.fixture(scope="module")
def raw_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic posts (400-700 px) plus the bad files a booru serves, in the crawl's layout."""
    src = tmp_path_factory.mktemp("raw")
    df = write_raw_store(src, 24, seed=11, first_id=5000)
    extra = []
    jpg_row = df[df["path"].str.endswith(".jpg")].iloc[0]
    good_jpg = (src / jpg_row["path"]).read_bytes()
    for i, (name, (data, _)) in enumerate(sorted(BAD_FILES.items())):
        post_id = 9000 + i
        rel = f"images/bad/{name}"
        if name == "cut.jpg":
            data = good_jpg[: len(good_jpg) // 2]
        if data is not None:
            (src / "images/bad").mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(data)
        extra.append({**df.iloc[0].to_dict(), "id": post_id, "path": rel, "file_md5": f"{post_id:032x}"})
    sprite = src / "images/bad/sprite.png"
    sprite.write_bytes(_face_rgba_png(7772))
    extra.append({**df.iloc[0].to_dict(), "id": 7772, "path": "images/bad/sprite.png", "tags": ["1girl"]})
    # A post the crawl did not download: must be ignored.
    extra.append({**df.iloc[0].to_dict(), "id": 9999, "path": None, "status": "http_404"})
    import pandas as pd

    table = validate_table(pd.concat([df, pd.DataFrame(extra)], ignore_index=True), POSTS_SCHEMA)
    pq.write_table(table, src / "posts.parquet")
    return src


def _run_faces(src: Path, out: Path, *extra: str, env: dict[str, str] | None = None, cascade: Path):
    return run_cli(
        "prep", "faces", "--src", str(src), "--out", str(out), "--shard-size", "8", "--cascade", str(cascade),
        *extra, env=env,
    )  # fmt: skip


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def clean_run(
    raw_store: Path, tmp_path_factory: pytest.TempPathFactory, cascade_path: Path
) -> tuple[Path, subprocess.CompletedProcess]:
    """One clean `prep faces` run over the raw store (one worker, shard size 8)."""
    out = tmp_path_factory.mktemp("faces")
    return out, _run_faces(raw_store, out, "--workers", "1", cascade=cascade_path)


def test_stage_end_to_end(raw_store: Path, clean_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, proc = clean_run
    assert proc.returncode == 0, proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("faces: sources_seen=30 ")

    table = validate_parquet(out / "faces.parquet", FACES_SCHEMA).to_pylist()
    status = {r["post_id"]: r["status"] for r in table}
    for i, (_name, (_, reason)) in enumerate(sorted(BAD_FILES.items())):
        assert status[9000 + i] == reason
    assert 9999 not in status
    assert status[7772] == "ok"  # the transparent sprite
    errors = {r["status"]: r["error"] for r in table if r["status"] not in ("ok", "no_face")}
    assert "HTML" in errors["not_image"] and errors["too_large"]

    index = read_index(out)
    assert [s.url for s in index] == sorted(p.name for p in out.glob("faces-*.tar"))
    ok_rows = {r["key"]: r for r in table if r["status"] == "ok"}
    seen_keys = []
    for info in index:
        data = (out / info.url).read_bytes()
        import hashlib

        assert hashlib.md5(data).hexdigest() == info.md5sum and len(data) == info.filesize
        samples = list(iter_samples(out / info.url))
        assert len(samples) == info.nsamples > 0
        for key, files in samples:
            assert "." not in key and set(files) == {"png", "json"}
            meta = validate_sample_json(json.loads(files["json"]), FACE_SAMPLE, where=key)
            row = ok_rows[key]
            assert row["shard"] == info.url
            assert meta["box"] == [row["x"], row["y"], row["w"], row["h"]]
            assert meta["crop_box"] == [row["crop_x"], row["crop_y"], row["crop_size"], row["crop_size"]]
            assert meta["box"][2] >= 64 and meta["size"] == 96
            x, y, s, _ = meta["crop_box"]
            w, h = meta["source_size"]
            assert x >= 0 and y >= 0 and x + s <= w and y + s <= h
            png = cv2.imdecode(np.frombuffer(files["png"], np.uint8), cv2.IMREAD_UNCHANGED)
            assert png.shape == (96, 96, 3)
            seen_keys.append(key)
    assert sorted(seen_keys) == sorted(ok_rows)

    # The faces drawn (>= 80 px) are the faces found, and the crops show them.
    df = pq.read_table(raw_store / "posts.parquet").to_pandas()
    drawn = found = 0
    for post_id in df[(df["id"] < 9000) & (df["id"] != 7772)]["id"]:
        truth = make_illustration(int(post_id), seed=11).faces
        boxes = [
            (r["x"], r["y"], r["w"], r["h"]) for r in table if r["post_id"] == post_id and r["status"] == "ok"
        ]
        for face in truth:
            if face[2] >= 80:
                drawn += 1
                found += any(iou(face, b) >= 0.5 for b in boxes)
        assert all(any(iou(face, b) >= 0.3 for face in truth) for b in boxes), f"false face in {post_id}"
    assert drawn >= 15 and found >= drawn - 1

    stats = json.loads((out / "_stats.json").read_text())
    assert stats["stage"] == "faces" and stats["sources_seen"] == 30
    assert stats["faces_kept"] == len(ok_rows)
    assert stats["sources_rejected"] == sum(1 for r in table if r["status"] != "ok")
    assert stats["rejected_by_reason"]["truncated"] == 1
    assert not list(out.glob(".*.tmp"))


def test_rerun_is_byte_identical_and_resumes(
    raw_store: Path, clean_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path, cascade_path: Path
) -> None:
    out, proc = clean_run
    assert proc.returncode == 0, proc.stderr
    before = _tree(out)
    # Same folder: every shard is resumed, nothing changes.
    again = _run_faces(raw_store, out, "--workers", "1", cascade=cascade_path)
    assert again.returncode == 0, again.stderr
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["shards_resumed"] == stats["chunks"] == 4
    after = _tree(out)
    assert {k: v for k, v in after.items() if k != "_stats.json"} == {
        k: v for k, v in before.items() if k != "_stats.json"
    }
    # Fresh folder, two workers: byte-identical shards, index and manifest.
    other = tmp_path / "w2"
    two = _run_faces(raw_store, other, "--workers", "2", cascade=cascade_path)
    assert two.returncode == 0, two.stderr
    fresh = _tree(other)
    for name in before:
        if name != "_stats.json":
            assert fresh[name] == before[name], name


def test_moving_src_and_cascade_keeps_every_shard(
    raw_store: Path, clean_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path, cascade_path: Path
) -> None:
    """The resume fingerprint holds the cascade's sha256 and src-relative paths, not where they are."""
    import shutil

    ref_out, proc = clean_run
    assert proc.returncode == 0, proc.stderr
    out = Path(shutil.copytree(ref_out, tmp_path / "out"))
    src = Path(shutil.copytree(raw_store, tmp_path / "moved" / "raw"))
    cascade = Path(shutil.copy(cascade_path, tmp_path / "elsewhere.xml"))
    moved = _run_faces(src, out, "--workers", "1", cascade=cascade)
    assert moved.returncode == 0, moved.stderr
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["shards_resumed"] == stats["chunks"] == 4
    assert "src" not in stats["options"] and "cascade" not in stats["options"]
    ref, got = _tree(ref_out), _tree(out)
    assert {k: v for k, v in got.items() if k != "_stats.json"} == {
        k: v for k, v in ref.items() if k != "_stats.json"
    }
    # a retagged post is not resumed: its chunk alone is recomputed
    table = pq.read_table(src / "posts.parquet")
    rows = table.to_pylist()
    first = min(r["id"] for r in rows if r["status"] == "ok")
    for r in rows:
        if r["id"] == first:
            r["tags"] = [*r["tags"], "retagged"]
    pq.write_table(validate_table(pa_table(rows, table.schema), POSTS_SCHEMA), src / "posts.parquet")
    again = _run_faces(src, out, "--workers", "1", cascade=cascade)
    assert again.returncode == 0, again.stderr
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["shards_resumed"] == stats["chunks"] - 1 == 3


def pa_table(rows: list[dict], schema: object) -> object:
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=schema)


@pytest.mark.slow
def test_resume_after_sigkill(
    raw_store: Path, clean_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path, cascade_path: Path
) -> None:
    ref_out, proc = clean_run
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "prep", "faces", "--src", str(raw_store), "--out", str(out)]
    cmd += ["--shard-size", "8", "--workers", "2", "--cascade", str(cascade_path)]
    env = {**os.environ, "PREP_FACES_TEST_DELAY": "0.15"}
    # Its own process group, so that the kill reaches the worker processes too.
    child = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".faces-*.done.json")) and time.monotonic() < deadline:
            assert child.poll() is None, "prep faces ended before it could be killed"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    done_before = len(list(out.glob(".faces-*.done.json")))
    assert 1 <= done_before < 4, "the kill came too late to test a resume"
    assert not (out / "faces.parquet").exists()
    for tar in out.glob("faces-*.tar"):  # whatever shard exists is whole (written, then renamed)
        assert tar.stat().st_size > 0 and list(iter_samples(tar))

    rerun = _run_faces(raw_store, out, "--workers", "1", cascade=cascade_path)
    assert rerun.returncode == 0, rerun.stderr
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["shards_resumed"] >= done_before
    assert not list(out.glob(".*.tmp"))
    ref = _tree(ref_out)
    got = _tree(out)
    assert sorted(got) == sorted(ref)
    for name in ref:
        if name != "_stats.json":
            assert got[name] == ref[name], name


# ---------------------------------------------------------------- bad input


def test_bad_input_is_one_clear_line(tmp_path: Path, raw_store: Path) -> None:
    """No real cascade needed: every case fails before detection, and nothing is downloaded."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/lbpcascade_animeface.xml"
    offline = {
        "ANIMEFACE_CASCADE": "",
        "ANIMEFACE_CASCADE_URL": closed,
        "XDG_CACHE_HOME": str(tmp_path / "c"),
    }
    cases = [
        (["--src", str(tmp_path / "absent")], "--src"),
        (["--src", str(tmp_path)], "posts.parquet"),
        (["--src", str(raw_store), "--min-face", "10"], "--min-face"),
        (["--src", str(raw_store), "--workers", "-1"], "--workers"),
        (["--src", str(raw_store), "--cascade", str(tmp_path / "none.xml")], "--cascade"),
        (["--src", str(raw_store)], "--cascade PATH"),  # offline, no cascade anywhere
    ]
    for args, word in cases:
        proc = run_cli("prep", "faces", "--out", str(tmp_path / "out"), *args, env=offline)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("prep: downloading")]
        assert len(lines) == 1 and lines[0].startswith("prep: error: ") and word in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "c" / "booru-gan" / "lbpcascade_animeface.xml").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    df = write_raw_store(empty, 1, seed=0).assign(status="http_404")
    pq.write_table(validate_table(df, POSTS_SCHEMA), empty / "posts.parquet")
    proc = run_cli("prep", "faces", "--src", str(empty), "--out", str(tmp_path / "o"), env=offline)
    assert proc.returncode == 2 and "no downloaded posts" in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_not_a_cascade_is_a_user_error(tmp_path: Path, raw_store: Path) -> None:
    fake = tmp_path / "fake.xml"
    fake.write_text("<opencv_storage></opencv_storage>")
    proc = run_cli(
        "prep", "faces", "--src", str(raw_store), "--out", str(tmp_path / "o"), "--cascade", str(fake)
    )
    assert proc.returncode == 2 and "cascade" in proc.stderr and "Traceback" not in proc.stderr


def test_out_in_the_way_is_a_user_error(tmp_path: Path, raw_store: Path, cascade_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        proc = _run_faces(raw_store, out, cascade=cascade_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and f"--out {out}" in lines[0], proc.stderr


def test_process_chunk_counts_small_faces(tmp_path: Path, cascade_path: Path) -> None:
    """In-process: faces under --min-face are counted and the source is `faces_too_small`."""
    from prep.faces import FaceJob, process_chunk
    from prep.shardjob import Chunk

    ill = make_illustration(7772, seed=1, size=(400, 400))
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", ill.image[:, :, ::-1])[1].tobytes())
    item = {"id": 1, "path": "a.png", "file_md5": "x", "tags": ["1girl"], "rating": "general"}

    def job(min_face: int) -> FaceJob:
        opts = FaceOptions(size=96, margin=0.25, min_face=min_face, max_pixels=10**8)
        return FaceJob.make(opts, "", src=str(tmp_path), cascade=str(cascade_path))

    res = process_chunk(Chunk(0, "faces-000000.tar", [item]), job(205))  # the face is ~190 px
    assert not res.samples and res.rows[0]["status"] == "faces_too_small"
    assert res.counters["faces_too_small"] == res.counters["faces_found"] == 1
    res = process_chunk(Chunk(0, "faces-000000.tar", [item, {**item, "id": 2, "path": None}]), job(64))
    assert [r["status"] for r in res.rows] == ["ok", "missing"] and len(res.samples) == 1
    assert res.counters["sources_ok"] == 1 and res.counters["rejected_missing"] == 1
