"""`prep verify` on sound and damaged shard folders; `prep show` contact sheets."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.shards import iter_samples, read_index, write_index, write_shard
from crawl.synthetic import write_raw_store
from prep.canny import run_canny
from prep.contact_sheet import LABEL_H, PAD, make_sheet
from prep.tags import run_tags
from prep.verify import verify_dir
from tests.conftest import run_cli
from tests.test_canny import face_samples, write_face_shards


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(face shard folder, line-art folder): 3 shards of 48x48 faces and their line art."""
    root = tmp_path_factory.mktemp("vs")
    samples = face_samples(range(1000, 1010))
    write_face_shards(root / "faces", [samples[:4], samples[4:7], samples[7:]])
    write_raw_store(root / "raw", 10, seed=0, first_id=1000, size=(160, 160))
    run_tags(root / "raw", root / "tags", top=100, min_count=1, exclude_meta=True)
    run_canny(root / "faces", root / "lineart", root / "tags" / "vocab.json", workers=1)
    return root / "faces", root / "lineart"


@pytest.fixture
def lineart(built, tmp_path) -> Path:
    """A private copy of the line-art folder to damage."""
    return Path(shutil.copytree(built[1], tmp_path / "lineart"))


def messages(folder: Path) -> list[str]:
    return [str(p) for p in verify_dir(folder, progress=False).problems]


def test_sound_folders_verify(built):
    faces, lineart = built
    for folder, fields in [(faces, "png,json"), (lineart, "color.png,line.png,tags.npy,json")]:
        report = verify_dir(folder, progress=False)
        assert report.ok, report.problems
        assert report.shards == 3 and report.samples == sum(i.nsamples for i in read_index(folder))
        assert ",".join(report.fields) == fields
    res = run_cli("prep", "verify", str(lineart))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines() == [
        f"verify: OK shards=3 samples={verify_dir(lineart, progress=False).samples} "
        "fields=color.png,line.png,tags.npy,json"
    ]


def _member_offset(path: Path, name: str) -> tuple[int, int]:
    with tarfile.open(path) as tar:
        m = tar.getmember(name)
        return m.offset_data, m.size


def test_missing_truncated_and_corrupted_shards(lineart):
    names = [i.url for i in read_index(lineart)]
    (lineart / names[0]).unlink()
    data = (lineart / names[1]).read_bytes()
    (lineart / names[1]).write_bytes(data[: len(data) // 2 + 100])
    # garbage of the same length in place of one line.png: the size is right, md5 and decoding are not
    key = next(iter_samples(lineart / names[2]))[0]
    off, size = _member_offset(lineart / names[2], f"{key}.line.png")
    buf = bytearray((lineart / names[2]).read_bytes())
    buf[off : off + size] = b"x" * size
    (lineart / names[2]).write_bytes(bytes(buf))
    shutil.copy(lineart / names[2], lineart / "stray-000009.tar")

    msgs = messages(lineart)
    assert f"{names[0]}: listed in shards.json but missing" in msgs
    assert any(m.startswith(f"{names[1]}: size ") for m in msgs)
    assert f"{names[1]}: unreadable tar: unexpected end of data" in msgs
    assert any(m.startswith(f"{names[2]}: md5 ") for m in msgs)
    assert f"{names[2]}: {key}: {key}.line.png does not decode as an image ({size} bytes)" in msgs
    assert "stray-000009.tar: shard is not listed in shards.json" in msgs
    assert not any(m.startswith(f"{names[2]}: size") for m in msgs)

    res = run_cli("prep", "verify", str(lineart), "--no-progress")
    out = res.stdout.strip().splitlines()
    assert res.returncode == 1
    assert out[-1].startswith("verify: FAILED shards=3") and out[-1].endswith(f"problems={len(msgs)}")
    assert len(out) == len(msgs) + 1 and all(line.startswith(str(lineart)) for line in out[:-1])
    assert "Traceback" not in res.stderr


def test_bad_members_fields_and_counts(lineart):
    """A rewritten shard whose index entry matches it, so only the sample-level problems show."""
    infos = read_index(lineart)
    samples = list(iter_samples(lineart / infos[0].url))
    (k0, f0), (k1, f1), (k2, f2) = samples[:3]
    rgb_line = cv2.cvtColor(cv2.imdecode(np.frombuffer(f0["line.png"], np.uint8), 0), cv2.COLOR_GRAY2BGR)
    f0 = {**f0, "line.png": cv2.imencode(".png", rgb_line)[1].tobytes()}
    f1 = {k: v for k, v in f1.items() if k != "tags.npy"}
    f2 = {**f2, "json": json.dumps({"post_id": "x"}).encode()}
    info = write_shard(lineart / infos[0].url, [(k0, f0), (k1, f1), (k2, f2), *samples[3:]])
    # append a member that belongs to no sample, and one that splits k0's sample
    with tarfile.open(lineart / infos[0].url, "a") as tar:
        for name in ("README", f"{k0}.extra.txt"):
            ti = tarfile.TarInfo(name)
            ti.size = 2
            tar.addfile(ti, io.BytesIO(b"hi"))
    info = type(info)(info.url, info.nsamples + 5, *_size_md5(lineart / info.url))
    write_index(lineart, [info, *infos[1:]], name="lineart")

    msgs = messages(lineart)
    url = info.url
    assert f"{url}: {k0}: {k0}.line.png has 3 channels, not one" in msgs
    assert f"{url}: {k1}: missing field(s) ['tags.npy']" in msgs
    assert any(m.startswith(f"{url}: {k2}: {k2}.json") and "post_id" in m for m in msgs)
    assert f"{url}: tar member 'README' is outside a sample (not <key>.<ext>)" in msgs
    assert f"{url}: {k0}: tar member '{k0}.extra.txt' is separated from the rest of its sample" in msgs
    assert f"{url}: {len(samples)} samples, shards.json says {len(samples) + 5}" in msgs
    assert len(msgs) == 6, msgs


def _size_md5(path: Path) -> tuple[int, str]:
    import hashlib

    data = path.read_bytes()
    return len(data), hashlib.md5(data).hexdigest()


def test_verify_streams_one_sample_at_a_time(tmp_path):
    """A shard far bigger than one sample is checked without holding the shard in memory."""
    import hashlib
    import tracemalloc

    blob = 2 << 20
    samples = [(f"s{i}", {"bin": bytes([i]) * blob, "json": b"{}"}) for i in range(16)]
    info = write_shard(tmp_path / "big-000000.tar", samples)
    write_index(tmp_path, [info], name="big")
    del samples
    tracemalloc.start()
    try:
        report = verify_dir(tmp_path, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok, report.problems
    assert report.samples == 16 and info.filesize > 16 * blob
    # a few copies of one sample (tarfile's stream buffers), far from the whole shard
    assert peak < 6 * blob, f"peak {peak} bytes for a {info.filesize}-byte shard"
    # the streamed md5 is the file's md5
    assert info.md5sum == hashlib.md5((tmp_path / info.url).read_bytes()).hexdigest()


def test_verify_bad_arguments(tmp_path):
    res = run_cli("prep", "verify", str(tmp_path / "nope"))
    assert res.returncode == 2 and res.stderr.startswith("prep: error: ") and "no such folder" in res.stderr
    res = run_cli("prep", "verify", str(tmp_path))
    assert res.returncode == 2 and "nothing to verify" in res.stderr
    (tmp_path / "junk-000000.tar").write_bytes(b"not a tar at all" * 100)  # no shards.json either
    res = run_cli("prep", "verify", str(tmp_path), "--no-progress")
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
    assert "junk-000000.tar: unreadable tar" in res.stdout + res.stderr


def test_lineart_sheet_shows_line_and_colour(built, tmp_path):
    lineart = built[1]
    sheet = make_sheet(lineart, tmp_path / "s.png", n=5, cols=4, labels=True)
    img = cv2.imread(str(tmp_path / "s.png"), cv2.IMREAD_UNCHANGED)
    th, tw = 48, 96
    assert sheet.tile == (th, tw) and (sheet.cols, sheet.rows) == (4, 2)
    assert img.shape == (PAD + 2 * (th + LABEL_H + PAD), PAD + 4 * (tw + PAD), 3)
    first = next(iter_samples(lineart / read_index(lineart)[0].url))
    assert sheet.keys[0] == first[0]
    line = cv2.imdecode(np.frombuffer(first[1]["line.png"], np.uint8), cv2.IMREAD_GRAYSCALE)
    colour = cv2.imdecode(np.frombuffer(first[1]["color.png"], np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(img[PAD : PAD + th, PAD : PAD + 48], cv2.cvtColor(line, cv2.COLOR_GRAY2BGR))
    np.testing.assert_array_equal(img[PAD : PAD + th, PAD + 48 : PAD + 96], colour)
    assert (line == 0).any() and colour.std() > 10
    # the label strip under the first tile has ink; the empty cells of row 2 do not
    assert (img[PAD + th : PAD + th + LABEL_H, PAD : PAD + tw] < 128).any()
    assert (img[PAD + th + LABEL_H + PAD :, PAD + 2 * (tw + PAD) :] == 255).all()


def test_face_sheet_and_seeded_choice(built, tmp_path):
    faces = built[0]
    all_keys = [k for i in read_index(faces) for k, _ in iter_samples(faces / i.url)]
    full = make_sheet(faces, tmp_path / "all.png", n=64, cols=8)
    assert full.keys == all_keys and full.tile == (48, 48)
    assert full.image.shape == (PAD + full.rows * (48 + PAD), PAD + 8 * (48 + PAD), 3)
    a = make_sheet(faces, tmp_path / "a.png", n=3, seed=7)
    b = make_sheet(faces, tmp_path / "b.png", n=3, seed=7)
    assert a.keys == b.keys and len(a.keys) == 3 and set(a.keys) <= set(all_keys)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert [all_keys.index(k) for k in a.keys] == sorted(all_keys.index(k) for k in a.keys)
    small = make_sheet(faces, tmp_path / "small.png", n=4, cols=4, height=24)
    assert small.tile == (24, 24) and small.image.shape == (PAD + 24 + PAD, PAD + 4 * (24 + PAD), 3)
    assert small.image[PAD : PAD + 24, PAD : PAD + 24].std() > 10


def test_show_cli(built, tmp_path):
    res = run_cli("prep", "show", str(built[1]), "--out", str(tmp_path / "x.png"), "--n", "4", "--cols", "2")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"show: samples=4 grid=2x2 size=198x102 out={tmp_path / 'x.png'}"
    assert cv2.imread(str(tmp_path / "x.png")).shape == (102, 198, 3)
    res = run_cli("prep", "show", str(built[1]), "--out", str(tmp_path / "x.jpg"))
    assert res.returncode == 2 and "--out" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = run_cli("prep", "show", str(tmp_path / "nope"), "--out", str(tmp_path / "y.png"))
    assert res.returncode == 2 and "no such folder" in res.stderr and not (tmp_path / "y.png").exists()


def test_face_json_is_schema_checked_and_an_unknown_stage_is_named(built, tmp_path):
    faces = Path(shutil.copytree(built[0], tmp_path / "faces"))
    infos = read_index(faces)
    samples = list(iter_samples(faces / infos[0].url))
    key, files = samples[0]
    meta = json.loads(files["json"])
    del meta["size"]
    info = write_shard(
        faces / infos[0].url, [(key, {**files, "json": json.dumps(meta).encode()}), *samples[1:]]
    )
    write_index(faces, [info, *infos[1:]], name="faces")
    report = verify_dir(faces, progress=False)
    assert report.stage == "faces" and not report.notes
    assert [str(p) for p in report.problems] == [f"{info.url}: {key}: {key}.json: missing field 'size'"]

    misc = tmp_path / "misc"
    write_index(misc, [write_shard(misc / "misc-000000.tar", samples[1:3])], name="misc")
    report = verify_dir(misc, progress=False)
    assert report.ok and report.stage is None and "'misc' is no stage's" in report.notes[0]
    res = run_cli("prep", "verify", str(misc), "--no-progress")
    assert res.returncode == 0 and res.stdout.startswith("verify: OK shards=1 samples=2")
    assert res.stderr.startswith("verify: note: ") and "not checked against a schema" in res.stderr
