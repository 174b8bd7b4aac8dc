"""`prep canny`: bit-exact line art, paired shards, determinism, resume, rejections, bad input."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from core.shards import iter_samples, read_index, write_index, write_shard
from crawl.synthetic import make_illustration, write_raw_store
from prep.canny import line_art, run_canny, square_resize
from prep.tags import build_vocab, load_vocab, run_tags
from schemas.lineart import LINEART_SAMPLE, LINEART_SCHEMA, SAMPLE_FIELDS
from schemas.validate import validate_parquet, validate_sample_json
from tests.conftest import run_cli

FACE = 48


def png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def bomb_png(side: int = 30000) -> bytes:
    """A well-formed PNG header claiming side x side RGB pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def face_samples(post_ids: range, size: int = FACE, seed: int = 0) -> list[tuple[str, dict[str, bytes]]]:
    """Face-shard samples as `prep faces` writes them: the drawn faces, cropped with margin, resized."""
    samples = []
    for pid in post_ids:
        ill = make_illustration(pid, seed, size=(160, 160))
        h, w = ill.image.shape[:2]
        for i, (x, y, s, _) in enumerate(ill.faces):
            m = s // 4
            x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + s + m), min(h, y + s + m)
            crop = cv2.resize(ill.image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
            meta = {
                "post_id": pid,
                "face_index": i,
                "box": [x, y, s, s],
                "crop_box": [x0, y0, x1 - x0, y1 - y0],
                "source_size": [w, h],
                "tags": ill.tags,
                "rating": "general",
                "source_md5": hashlib.md5(ill.image.tobytes()).hexdigest(),
                "size": size,
            }
            samples.append((f"p{pid:010d}_f{i:02d}", {"png": png(crop), "json": json.dumps(meta).encode()}))
    return samples


def write_face_shards(folder: Path, groups: list[list[tuple[str, dict[str, bytes]]]]) -> list[Path]:
    infos = [write_shard(folder / f"faces-{i:06d}.tar", g) for i, g in enumerate(groups)]
    write_index(folder, infos, name="faces")
    return [folder / i.url for i in infos]


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory) -> Path:
    """Three face shards, the second one holding broken samples among good ones."""
    folder = tmp_path_factory.mktemp("faces")
    good = face_samples(range(1000, 1012))
    assert len(good) >= 8
    broken = [
        ("p0000000001_f00", {"png": b"<!DOCTYPE html><html>rate limited</html>", "json": b'{"post_id": 1}'}),
        ("p0000000002_f00", {"png": good[0][1]["png"][:200], "json": b'{"post_id": 2}'}),
        ("p0000000003_f00", {"png": bomb_png(), "json": b'{"post_id": 3}'}),
        ("p0000000004_f00", {"png": good[0][1]["png"]}),
        ("p0000000005_f00", {"png": good[0][1]["png"], "json": b'{"post_id": 5, "crop_box": "x"}'}),
    ]
    write_face_shards(folder, [good[:4], good[4:6] + broken, good[6:]])
    return folder


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tags")
    df = write_raw_store(folder / "raw", 12, seed=0, first_id=1000, size=(160, 160))
    run_tags(folder / "raw", folder, top=50, min_count=1, exclude_meta=True)
    assert len(load_vocab(folder / "vocab.json")) == len(build_vocab(df["tags"], 50, 1)[0])
    return folder / "vocab.json"


def decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert img is not None
    return img


def check_lineart(out: Path, low: int, high: int, invert: bool = True) -> list[tuple[str, dict[str, bytes]]]:
    """Check every sample of a line-art folder against its definition; returns the samples."""
    samples = []
    for info in read_index(out):
        assert (out / info.url).stat().st_size == info.filesize
        samples += list(iter_samples(out / info.url))
    for key, files in samples:
        assert tuple(files) == SAMPLE_FIELDS, key
        meta = validate_sample_json(json.loads(files["json"]), LINEART_SAMPLE, where=key)
        rgb = cv2.cvtColor(decode(files["color.png"]), cv2.COLOR_BGR2RGB)
        line = decode(files["line.png"])
        assert line.ndim == 2 and line.dtype == np.uint8
        assert rgb.shape[:2] == line.shape == (meta["height"], meta["width"])
        # bit-exact with a direct OpenCV call on the stored colour pixels
        edges = cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), low, high)
        np.testing.assert_array_equal(line, 255 - edges if invert else edges)
        assert (meta["low"], meta["high"], meta["invert"]) == (low, high, invert)
        vec = np.load(io.BytesIO(files["tags.npy"]), allow_pickle=False)
        assert vec.dtype == np.uint8 and vec.ndim == 1
    return samples


def test_line_art_is_inverted_canny():
    rgb = make_illustration(1000, 0, size=(120, 90)).image
    edges = cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 100, 200)
    assert edges.any() and not edges.all()
    np.testing.assert_array_equal(line_art(rgb, 100, 200), 255 - edges)
    np.testing.assert_array_equal(line_art(rgb, 100, 200, invert=False), edges)
    # other thresholds, other lines: the parameters really reach OpenCV
    assert not np.array_equal(line_art(rgb, 10, 20), line_art(rgb, 100, 200))


def test_square_resize_crops_the_centre():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 50:150] = 255  # the centre square is white, the sides black
    sq, box = square_resize(img, 50)
    assert sq.shape == (50, 50, 3) and box == (50, 0, 100, 100)
    assert sq.min() == 255


def test_faces_to_lineart(faces_dir, vocab_path, tmp_path):
    out = tmp_path / "lineart"
    stats = run_canny(faces_dir, out, vocab_path, low=100, high=200, workers=1)
    vocab = load_vocab(vocab_path)
    samples = check_lineart(out, 100, 200)
    in_keys = [k for p in sorted(faces_dir.glob("*.tar")) for k, f in iter_samples(p) if k[:8] != "p0000000"]
    assert [k for k, _ in samples] == in_keys
    # output shard i pairs with input shard i, and colour crops are the input's bytes
    for i, info in enumerate(read_index(out)):
        assert info.url == f"lineart-{i:06d}.tar"
        src = dict(iter_samples(faces_dir / f"faces-{i:06d}.tar"))
        for key, files in iter_samples(out / info.url):
            assert files["color.png"] == src[key]["png"]
            meta = json.loads(src[key]["json"])
            np.testing.assert_array_equal(np.load(io.BytesIO(files["tags.npy"])), vocab.vector(meta["tags"]))
            assert json.loads(files["json"])["vocab_hash"] == vocab.hash
    assert stats["samples"] == len(in_keys) and stats["vocab_hash"] == vocab.hash
    assert load_vocab(out / "vocab.json").tags == vocab.tags  # the vocabulary travels with the shards
    assert stats["rejected_by_reason"] == {
        "not_image": 1,
        "truncated": 1,
        "too_large": 1,
        "no_json": 1,
        "bad_json": 1,
    }
    manifest = validate_parquet(out / "lineart.parquet", LINEART_SCHEMA).to_pandas()
    assert len(manifest) == len(in_keys) + 5
    bad = manifest[manifest.status != "ok"].set_index("key")
    assert (
        bad.loc["p0000000001_f00", "status"] == "not_image" and "HTML" in bad.loc["p0000000001_f00", "error"]
    )
    assert bad.loc["p0000000003_f00", "status"] == "too_large" and bad.shard.isna().all()
    ok = manifest[manifest.status == "ok"]
    assert (ok.shard.str.startswith("lineart-")).all() and ok.edge_fraction.between(0.001, 0.5).all()
    assert json.loads((out / "_stats.json").read_text())["stage"] == "canny"
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_size_and_no_invert(faces_dir, vocab_path, tmp_path):
    out = tmp_path / "big"
    run_canny(faces_dir, out, vocab_path, low=50, high=120, invert=False, size=64)
    samples = check_lineart(out, 50, 120, invert=False)
    assert {decode(f["line.png"]).shape for _, f in samples} == {(64, 64)}


def test_rerun_is_byte_identical_and_resumes(faces_dir, vocab_path, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_canny(faces_dir, a, vocab_path, workers=1)
    run_canny(faces_dir, b, vocab_path, workers=2)
    names = sorted(p.name for p in a.glob("*.tar"))
    assert names == sorted(p.name for p in b.glob("*.tar")) and len(names) == 3
    for n in [*names, "shards.json"]:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    assert pq.read_table(a / "lineart.parquet").equals(pq.read_table(b / "lineart.parquet"))

    before = {n: (a / n).read_bytes() for n in names}
    again = run_canny(faces_dir, a, vocab_path, workers=1)
    assert again["chunks_skipped"] == 3
    (a / names[1]).unlink()
    resumed = run_canny(faces_dir, a, vocab_path, workers=1)
    assert resumed["chunks_skipped"] == 2
    assert {n: (a / n).read_bytes() for n in names} == before
    # a changed parameter recomputes everything
    assert run_canny(faces_dir, a, vocab_path, low=60, workers=1)["chunks_skipped"] == 0


def test_raw_source_rejects_bad_files(vocab_path, tmp_path):
    raw = tmp_path / "raw"
    df = write_raw_store(raw, 7, seed=3, first_id=2000, size=(120, 90))
    paths = dict(zip(df["id"], df["path"], strict=True))
    (raw / paths[2001]).write_bytes(b"")
    (raw / paths[2002]).write_bytes(b"<html><body>403 Forbidden</body></html>")
    data = png(make_illustration(2003, 3, size=(120, 90)).image)
    (raw / paths[2003]).write_bytes(data[: len(data) // 2])
    (raw / paths[2004]).write_bytes(bomb_png())
    (raw / paths[2005]).unlink()
    out = tmp_path / "lineart"
    stats = run_canny(raw, out, vocab_path, size=64, shard_size=1, workers=2)
    assert stats["source"] == "raw" and stats["samples"] == 2
    assert stats["rejected_by_reason"] == {
        "empty": 1,
        "not_image": 1,
        "truncated": 1,
        "too_large": 1,
        "missing": 1,
    }
    samples = check_lineart(out, 100, 200)
    assert [k for k, _ in samples] == ["p0000002000", "p0000002006"]
    assert [i.url for i in read_index(out)] == ["lineart-000000.tar", "lineart-000006.tar"]
    meta = json.loads(samples[0][1]["json"])
    assert meta["source"] == "raw" and (meta["width"], meta["height"]) == (64, 64)
    assert meta["crop_box"] == [15, 0, 90, 90] and meta["source_md5"] == df.loc[0, "file_md5"]
    manifest = pq.read_table(out / "lineart.parquet").to_pandas()
    assert dict(zip(manifest.post_id, manifest.status, strict=True))[2002] == "not_image"
    assert list(manifest.post_id) == list(range(2000, 2007))


def test_cli_errors(tmp_path, vocab_path, faces_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--src", str(tmp_path / "nope")], "--src"),
        (["--src", str(empty)], "empty"),
        (["--src", str(faces_dir), "--vocab", str(tmp_path / "none.json")], "prep tags"),
        (["--src", str(faces_dir), "--low", "300", "--high", "200"], "--low"),
        (["--src", str(faces_dir), "--source", "raw"], "posts.parquet"),
    ]
    for args, needle in cases:
        if "--vocab" not in args:
            args = [*args, "--vocab", str(vocab_path)]
        res = run_cli("prep", "canny", *args, "--out", str(tmp_path / "out"), cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("prep: error: ") and needle in lines[0], lines
        assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("in the way")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        res = run_cli("prep", "canny", "--src", str(faces_dir), "--vocab", str(vocab_path), "--out", str(out))
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and f"--out {out}" in lines[0], res.stderr


@pytest.mark.slow
def test_cli_end_to_end_raw(tmp_path):
    write_raw_store(tmp_path / "data" / "raw", 6, seed=1, size=(128, 96))
    res = run_cli("prep", "tags", "--min-count", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("tags: ") and (tmp_path / "data/tags/vocab.json").is_file()
    res = run_cli("prep", "canny", "--src", "data/raw", "--size", "32", "--workers", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith("canny: source=raw samples=6 rejected=0")
    check_lineart(tmp_path / "data" / "lineart", 100, 200)
