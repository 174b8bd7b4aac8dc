"""crawl.synthetic: deterministic pictures whose tags say what was drawn, and faces the cascade finds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from crawl import synthetic
from crawl.synthetic import EYE_COLOURS, HAIR_COLOURS, colour_probes, make_illustration, write_raw_store
from schemas.crawl import POSTS_SCHEMA
from schemas.validate import validate_parquet


def _first_of_kind(kind: str, start: int = 1000, seed: int = 0) -> int:
    return next(i for i in range(start, start + 500) if synthetic.kind_of(i, seed) == kind)


def _nearest(colour: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    return min(palette, key=lambda name: float(np.abs(np.array(palette[name]) - colour).sum()))


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_same_post_and_seed_give_the_same_picture() -> None:
    a = make_illustration(1234, seed=3)
    b = make_illustration(1234, seed=3)
    assert np.array_equal(a.image, b.image)
    assert (a.tags, a.faces, a.kind) == (b.tags, b.faces, b.kind)
    c = make_illustration(1234, seed=4)
    assert c.image.shape != a.image.shape or not np.array_equal(c.image, a.image)


def test_image_is_rgb_uint8_of_the_asked_size() -> None:
    ill = make_illustration(1000, size=(320, 200))
    assert ill.image.shape == (200, 320, 3)
    assert ill.image.dtype == np.uint8


def test_default_sizes_vary_around_400_to_700() -> None:
    sizes = {make_illustration(i).image.shape[:2] for i in range(1000, 1012)}
    assert len(sizes) > 3
    for h, w in sizes:
        assert 400 <= max(h, w) <= 700


def test_all_kinds_occur_and_tags_fit_the_kind() -> None:
    kinds = {synthetic.kind_of(i) for i in range(1000, 1100)}
    assert kinds == set(synthetic.KINDS)
    for i in range(1000, 1060):
        ill = make_illustration(i, size=(300, 300))
        tags = set(ill.tags)
        assert ill.tags == sorted(tags)
        assert ill.kind == synthetic.kind_of(i) or ill.kind == "no_face"
        if ill.kind == "no_face":
            assert not ill.faces and "no_humans" in tags and "1girl" not in tags
        elif ill.kind == "multi_face":
            assert 2 <= len(ill.faces) <= 3
            assert {"multiple_girls", f"{len(ill.faces)}girls"} <= tags and "solo" not in tags
        else:
            assert len(ill.faces) == 1 and {"1girl", "solo"} <= tags
        if ill.kind == "monochrome":
            assert {"monochrome", "greyscale"} <= tags
            assert np.array_equal(ill.image[:, :, 0], ill.image[:, :, 1])
            assert np.array_equal(ill.image[:, :, 1], ill.image[:, :, 2])
            assert not tags & (set(HAIR_COLOURS) | set(EYE_COLOURS))


def test_hair_and_eye_tags_match_the_drawn_colours() -> None:
    checked = 0
    for i in range(1000, 1080):
        ill = make_illustration(i)
        if ill.kind not in ("face", "multi_face"):
            continue
        colour_tags = {t for t in ill.tags if t in HAIR_COLOURS or t in EYE_COLOURS}
        assert colour_tags == set(ill.hair) | set(ill.eyes)
        for box, hair, eyes in zip(ill.faces, ill.hair, ill.eyes, strict=True):
            probes = colour_probes(box)
            for x, y in probes["hair"]:
                patch = ill.image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0)
                assert _nearest(patch, HAIR_COLOURS) == hair, (i, box)
            for x, y in probes["eyes"]:
                assert _nearest(ill.image[y, x].astype(float), EYE_COLOURS) == eyes, (i, box)
            checked += 1
    assert checked > 30


def test_faces_lie_inside_the_image_and_do_not_overlap() -> None:
    for i in range(1000, 1100):
        ill = make_illustration(i)
        h, w = ill.image.shape[:2]
        for x, y, bw, bh in ill.faces:
            assert bw == bh and bw >= min(80, min(h, w) // 2)
            assert x >= 0 and x + bw <= w and y >= 0 and y + bh <= h
        for a in ill.faces:
            for b in ill.faces:
                assert a is b or _iou(a, b) == 0


def test_the_real_cascade_finds_the_drawn_faces(cascade_path: Path) -> None:
    """At least 90% of single-face pictures are detected, with the box close to the drawn one."""
    cascade = cv2.CascadeClassifier(str(cascade_path))
    found = total = false_alarms = no_face = 0
    for i in range(2000, 2100):
        ill = make_illustration(i, seed=5)
        gray = cv2.equalizeHist(cv2.cvtColor(ill.image, cv2.COLOR_RGB2GRAY))
        dets = [tuple(int(v) for v in d) for d in cascade.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))]
        if ill.kind == "no_face":
            no_face += 1
            false_alarms += bool(dets)
        elif len(ill.faces) == 1:
            total += 1
            found += any(_iou(d, ill.faces[0]) >= 0.6 for d in dets)
    assert total >= 50 and no_face >= 5
    assert found / total >= 0.9, f"{found}/{total} single faces detected"
    assert false_alarms / no_face <= 0.1


def test_write_raw_store_matches_the_crawler_layout(tmp_path: Path) -> None:
    df = write_raw_store(tmp_path, 20, seed=1)
    table = validate_parquet(tmp_path / "posts.parquet", POSTS_SCHEMA)
    assert table.num_rows == 20
    assert isinstance(df, pd.DataFrame)
    assert list(df["id"]) == list(range(1000, 1020))
    assert set(df["status"]) == {"ok"}
    exts = set()
    for row in df.itertuples():
        ext = row.path.rsplit(".", 1)[1]
        exts.add(ext)
        assert row.path == f"images/{row.id % 1000:03d}/{row.id}.{ext}"
        data = (tmp_path / row.path).read_bytes()
        assert hashlib.md5(data).hexdigest() == row.file_md5 == row.md5
        assert len(data) == row.file_size
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape[:2] == (row.height, row.width)
        assert data[:4] == (b"\x89PNG" if ext == "png" else b"\xff\xd8\xff\xe0")
        assert list(row.tags) == make_illustration(row.id, 1).tags
    assert exts == {"png", "jpg"}
    # Same inputs, same bytes.
    again = tmp_path / "again"
    write_raw_store(again, 20, seed=1)
    assert (again / "posts.parquet").read_bytes() == (tmp_path / "posts.parquet").read_bytes()


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_encode_round_trips(ext: str) -> None:
    ill = make_illustration(1001, size=(120, 90))
    data = synthetic.encode(ill.image, ext)
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert back.shape == ill.image.shape
    if ext == "png":
        assert np.array_equal(back, ill.image)
    else:
        assert np.abs(back.astype(int) - ill.image.astype(int)).mean() < 5
    alpha = synthetic.encode(ill.image, "png", alpha=True)
    assert cv2.imdecode(np.frombuffer(alpha, np.uint8), cv2.IMREAD_UNCHANGED).shape[2] == 4
