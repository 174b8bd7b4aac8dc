"""`prep images`: real image files of every kind into content shards; sizes, rejects, determinism,
resume after a lost shard and after SIGKILL, bad input, and `prep verify` / `prep report` on them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.shards import iter_samples, read_index
from prep.content import run_images, source_key
from schemas.content import CONTENT_SAMPLE, CONTENT_SCHEMA
from schemas.validate import validate_parquet, validate_sample_json
from tests.conftest import ROOT, run_cli

SIZE = 64


def picture(w: int, h: int, seed: int) -> np.ndarray:
    """A smooth RGB picture (gradients and a disc) of w x h: compresses like a photo, not like noise."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(1, w - 1)).astype(np.uint8)
    g = (y * 255 // max(1, h - 1)).astype(np.uint8)
    b = np.full((h, w), (seed * 53) % 256, np.uint8)
    img = np.dstack([r, g, b])
    cv2.circle(img, (w // 2, h // 2), min(w, h) // 3, (255 - seed * 30 % 255, 40, 200), -1)
    return img


def jpeg_rotated(w: int, h: int) -> bytes:
    """A JPEG stored w x h whose EXIF orientation (6: rotate 90 clockwise) makes it h x w."""
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(picture(w, h, 7)).save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def make_folder(src: Path) -> dict[str, str]:
    """A user's folder: photos of several sizes and formats, junk, a text file, a hidden folder.

    Returns {relative path: expected status}.
    """
    (src / "holiday" / "day 2").mkdir(parents=True)
    (src / ".thumbs").mkdir()
    rgba = np.dstack([picture(50, 40, 3), np.full((40, 50), 128, np.uint8)])
    files: dict[str, bytes] = {
        "big.jpg": cv2.imencode(".jpg", picture(300, 200, 1))[1].tobytes(),  # shrunk: 96x64
        "tall.png": cv2.imencode(".png", picture(90, 200, 2))[1].tobytes(),  # shrunk: 64x142
        "exact.PNG": cv2.imencode(".png", picture(64, 100, 4))[1].tobytes(),  # kept: 64x100
        "holiday/small.webp": cv2.imencode(".webp", picture(40, 50, 5))[1].tobytes(),  # enlarged 1.6x
        "holiday/alpha.png": cv2.imencode(".png", rgba)[1].tobytes(),  # flattened, enlarged
        "holiday/day 2/phone.jpeg": jpeg_rotated(120, 80),  # decoded 80x120 -> 64x96
        "tiny.png": cv2.imencode(".png", picture(20, 30, 6))[1].tobytes(),  # too small
        "error-page.jpg": b"<!DOCTYPE html><html><body>404</body></html>",
        "empty.png": b"",
        "cut.jpg": cv2.imencode(".jpg", picture(200, 200, 8))[1].tobytes()[:-400],  # no end marker
    }
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    (src / "notes.txt").write_text("not a picture")
    (src / ".thumbs" / "x.png").write_bytes(files["big.jpg"])  # hidden: never looked at
    (src / ".DS_Store").write_bytes(b"\0")
    expected = dict.fromkeys(files, "ok")
    expected.update(
        {"tiny.png": "too_small", "error-page.jpg": "not_image", "empty.png": "empty", "cut.jpg": "truncated"}
    )
    return expected


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("photos")
    return folder, make_folder(folder)


def md5s(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name != "_stats.json"
    }


def test_every_kind_of_file(src: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, expected = src
    out = tmp_path / "content"
    stats = run_images(folder, out, size=SIZE, shard_size=4)
    table = validate_parquet(out / "content.parquet", CONTENT_SCHEMA).to_pylist()
    assert [r["source_path"] for r in table] == sorted(expected)
    assert {r["source_path"]: r["status"] for r in table} == expected
    assert stats["sources_seen"] == len(expected) and stats["sources_ok"] == 6
    assert stats["rejected_by_reason"] == {"empty": 1, "not_image": 1, "too_small": 1, "truncated": 1}
    assert stats["files_skipped"] == 1 and stats["upscaled"] == 2
    assert json.loads((out / "_stats.json").read_text()) == {"stage": "images", **stats}
    assert stats["options"]["size"] == SIZE and "src" not in stats["options"]

    rows = {r["key"]: r for r in table if r["status"] == "ok"}
    samples = {}
    for info in read_index(out):
        for key, files in iter_samples(out / info.url):
            assert sorted(files) == ["jpg", "json"] and rows[key]["shard"] == info.url
            samples[key] = files
    assert set(samples) == set(rows)
    sizes = {}
    for key, files in samples.items():
        meta = validate_sample_json(json.loads(files["json"]), CONTENT_SAMPLE, where=key)
        assert key == source_key(meta["source_path"])
        img = cv2.imdecode(np.frombuffer(files["jpg"], np.uint8), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) == SIZE
        assert (img.shape[1], img.shape[0]) == (meta["width"], meta["height"])
        assert meta["source_md5"] == hashlib.md5((folder / meta["source_path"]).read_bytes()).hexdigest()
        sizes[meta["source_path"]] = (meta["source_size"], meta["width"], meta["height"], meta["scale"])
    assert sizes["big.jpg"] == ([300, 200], 96, 64, pytest.approx(64 / 200))
    assert sizes["tall.png"] == ([90, 200], 64, 142, pytest.approx(64 / 90))
    assert sizes["exact.PNG"] == ([64, 100], 64, 100, 1.0)
    assert sizes["holiday/small.webp"] == ([40, 50], 64, 80, 1.6)
    assert sizes["holiday/day 2/phone.jpeg"] == ([80, 120], 64, 96, 0.8)  # EXIF orientation applied
    # transparency flattened onto white: the half-transparent picture got lighter, never black
    alpha = rows[source_key("holiday/alpha.png")]
    img = cv2.imdecode(np.frombuffer(samples[alpha["key"]]["jpg"], np.uint8), cv2.IMREAD_COLOR)
    assert img.min() > 100

    res = run_cli("prep", "verify", str(out), "--no-progress")
    assert res.returncode == 0 and res.stdout.startswith("verify: OK shards=") and not res.stderr.strip()

    # --out inside --src: what lies in it (here a contact sheet from `prep show`) is never a source
    inside = folder / "content"
    try:
        run_images(folder, inside, size=SIZE, shard_size=4)
        assert run_cli("prep", "show", str(inside), "--out", str(inside / "sheet.png")).returncode == 0
        again = run_images(folder, inside, size=SIZE, shard_size=4)
        assert again["sources_seen"] == len(expected) and again["shards_resumed"] == again["chunks"]
    finally:
        shutil.rmtree(inside)


def test_deterministic_cli_and_png(src: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The CLI with 2 workers and the function with 1 write the same bytes; --format png stores PNGs."""
    folder, _ = src
    res = run_cli(
        "prep", "images", "--src", str(folder), "--out", str(tmp_path / "a"), "--size", str(SIZE),
        "--shard-size", "3", "--workers", "2",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert (
        line.startswith("images: sources_seen=10 sources_ok=6 sources_rejected=4") and "too_small=1" in line
    )
    run_images(folder, tmp_path / "b", size=SIZE, shard_size=3, workers=1)
    a = md5s(tmp_path / "a")
    assert a == md5s(tmp_path / "b")
    # 4 chunks of 3 paths; the last holds only tiny.png (rejected), so it writes no shard
    assert sorted(a) == [*(f"content-00000{i}.tar" for i in range(3)), "content.parquet", "shards.json"]

    run_images(folder, tmp_path / "p", size=SIZE, fmt="png", shard_size=100)
    (info,) = read_index(tmp_path / "p")
    for _, files in iter_samples(tmp_path / "p" / info.url):
        assert sorted(files) == ["json", "png"] and files["png"].startswith(b"\x89PNG")


def test_resume_after_a_lost_shard_and_new_photos(src: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, _ = src
    out = tmp_path / "c"
    run_images(folder, out, size=SIZE, shard_size=2)
    before = md5s(out)
    shards = [i.url for i in read_index(out)]
    (out / shards[1]).unlink()  # as if killed between the shard and its done-record
    stats = run_images(folder, out, size=SIZE, shard_size=2)
    assert stats["shards_resumed"] == stats["chunks"] - 1 and md5s(out) == before

    moved = tmp_path / "moved"
    os.rename(folder, moved)  # the same photos elsewhere: nothing is recomputed
    try:
        stats = run_images(moved, out, size=SIZE, shard_size=2)
        assert stats["shards_resumed"] == stats["chunks"] and md5s(out) == before
        (moved / "zz-last.png").write_bytes(cv2.imencode(".png", picture(128, 128, 9))[1].tobytes())
        stats = run_images(moved, out, size=SIZE, shard_size=2)  # sorts last: only the last chunk is new
        assert stats["shards_resumed"] == stats["chunks"] - 1 and stats["sources_ok"] == 7
    finally:
        (moved / "zz-last.png").unlink(missing_ok=True)
        os.rename(moved, folder)


def test_resume_after_sigkill(src: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, _ = src
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "prep", "images", "--src", str(folder), "--out", str(out)]
    cmd += ["--size", str(SIZE), "--shard-size", "2"]
    env = {**os.environ, "PREP_IMAGES_TEST_DELAY": "0.25"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(".content-*.done.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(out.glob(".content-*.done.json")))
    assert 1 <= done_before < 5 and not (out / "content.parquet").exists()
    rerun = run_cli(*cmd[2:])
    assert rerun.returncode == 0, rerun.stderr
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["shards_resumed"] >= done_before and stats["sources_ok"] == 6
    run_images(folder, tmp_path / "clean", size=SIZE, shard_size=2)
    assert md5s(out) == md5s(tmp_path / "clean")


def test_bad_input(src: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, _ = src
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    (tmp_path / "file").write_text("x")
    cases = [
        (["--src", str(tmp_path / "nowhere")], f"--src {tmp_path / 'nowhere'}: no such folder"),
        (["--src", str(tmp_path / "empty")], "no image files"),
        (["--src", str(tmp_path / "texts")], "no image files"),
        (["--src", str(tmp_path / "file")], "not a folder"),
        (["--src", str(folder), "--size", "8"], "--size 8"),
        (["--src", str(folder), "--format", "gif"], "--format gif"),
        (["--src", str(folder), "--shard-size", "0"], "--shard-size 0"),
    ]
    for args, needle in cases:
        res = run_cli("prep", "images", *args, "--out", str(tmp_path / "out"))
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("prep: error: "), (
            args,
            res.stderr,
        )
        assert needle in lines[0], (args, lines)
    assert not (tmp_path / "out").exists()
    res = run_cli("prep", "images", "--src", str(folder), "--out", str(tmp_path / "file" / "sub"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "--out" in res.stderr


def test_report_shows_the_content_stage(src: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    from prep.report import build_report

    folder, _ = src
    root = tmp_path / "data"
    run_images(folder, root / "content", size=SIZE, shard_size=4)
    (root / "scratch").mkdir()
    rep = build_report(root, n_rejected=8)
    page = rep.path.read_text(encoding="utf-8")
    assert rep.present == ["content"] and "content" not in rep.missing
    assert '<section id="content"><h2>Content images</h2>' in page and "6 content images" in page
    assert "<code>too_small</code>" in page and "does not decode: truncated" in page
    assert f"{root / 'scratch'}: no stage writes a folder of that name" in page


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    """Old archives hold names in other encodings: the file is used, its name recorded with U+FFFD."""
    src = tmp_path / "old"
    src.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 on a UTF-8 system
    (src / name).write_bytes(cv2.imencode(".png", picture(80, 80, 2))[1].tobytes())
    stats = run_images(src, tmp_path / "out", size=SIZE)
    (row,) = validate_parquet(tmp_path / "out" / "content.parquet", CONTENT_SCHEMA).to_pylist()
    assert stats["sources_ok"] == 1 and row["source_path"] == "caf\ufffd.png"
    assert row["key"] == "img_" + hashlib.sha256(b"caf\xe9.png").hexdigest()[:16]
    (info,) = read_index(tmp_path / "out")
    ((key, files),) = iter_samples(tmp_path / "out" / info.url)
    assert key == row["key"] and json.loads(files["json"])["source_path"] == "caf\ufffd.png"
