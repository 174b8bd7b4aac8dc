"""Shard bytes are pinned: the same small inputs give exactly these files (md5 of every shard, manifest,
index and vocabulary), so a refactor of the stages cannot change what they write without this failing.

The constants were computed on the code before the stage registry / typed shard-job refactor. They
depend on the OpenCV, pyarrow and PNG (zlib) builds, so the test skips (saying why) on other versions
than the ones recorded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crawl.synthetic import write_raw_store
from schemas.crawl import POSTS_SCHEMA

PINNED_VERSIONS = {"opencv": "4.14.0", "pyarrow": "26.0.1"}

# md5 of every file the stages write (timing-free files only: _stats.json holds seconds).
EXPECTED: dict[str, str] = {
    "tags/vocab.json": "92e6243431ae380624b6c7fab7ad4b73",
    "faces/faces-000000.tar": "747913a97f79273600b7c21faca7d5ae",
    "faces/faces-000001.tar": "ae2c814af123db5b02c328a3ed1f383d",
    "faces/faces.parquet": "9c4de7915b6c9f753ba62052820cc0dc",
    "faces/shards.json": "683548795587cb967b1b01728798f3d3",
    "lineart/lineart-000000.tar": "544883bffee9628b1f4191edcfcf0dc5",
    "lineart/lineart-000001.tar": "9a97f9f407e59e602dbed7b6ec8a79e3",
    "lineart/lineart.parquet": "0510b99dc06cc26d986c14bff2d8b3f5",
    "lineart/shards.json": "9f517dd25b98872fee35f942a930d76f",
    "lineart/vocab.json": "92e6243431ae380624b6c7fab7ad4b73",
    "lineart-raw/lineart-000000.tar": "77dcafebe0453a9dcb7297e6c6930aa7",
    "lineart-raw/lineart-000001.tar": "ca8fe5f3b31e97d6282d34c3500a8eec",
    "lineart-raw/lineart.parquet": "23d82c630af0039321e76b5dc54d5d97",
    "lineart-raw/shards.json": "d57605a1289684d9f29ec60b84908923",
    "lineart-raw/vocab.json": "92e6243431ae380624b6c7fab7ad4b73",
}


def _versions() -> dict[str, str]:
    return {"opencv": cv2.__version__, "pyarrow": pa.__version__}


def _md5s(folder: Path) -> dict[str, str]:
    return {
        f"{folder.name}/{p.name}": hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name != "_stats.json"
    }


def build(root: Path, cascade: Path) -> dict[str, str]:
    """raw (6 posts, one of them a truncated file) -> tags, faces, canny from faces, canny from raw."""
    from prep.canny import run_canny
    from prep.faces import FaceOptions, run_faces
    from prep.tags import run_tags

    raw = root / "raw"
    write_raw_store(raw, 6, seed=5, size=(240, 200))
    rows = pq.read_table(raw / "posts.parquet").to_pylist()
    cut = raw / "images" / "999" / "cut.png"
    cut.parent.mkdir(parents=True)
    cut.write_bytes((raw / rows[0]["path"]).read_bytes()[:300])
    rows.append({**rows[0], "id": 5000, "path": "images/999/cut.png", "file_size": 300})
    pq.write_table(pa.Table.from_pylist(rows, schema=POSTS_SCHEMA), raw / "posts.parquet")

    run_tags(raw, root / "tags", top=50, min_count=1, exclude_meta=True)
    run_faces(
        raw, root / "faces", FaceOptions(size=48, min_face=40), cascade=cascade, workers=1, shard_size=3
    )
    vocab = root / "tags" / "vocab.json"
    run_canny(root / "faces", root / "lineart", vocab, workers=1)
    run_canny(raw, root / "lineart-raw", vocab, size=64, shard_size=4, workers=1)
    out: dict[str, str] = {}
    for name in ("tags", "faces", "lineart", "lineart-raw"):
        out.update(_md5s(root / name))
    return out


def test_stage_outputs_are_byte_identical_to_the_pinned_ones(tmp_path: Path, cascade_path: Path) -> None:
    if _versions() != PINNED_VERSIONS:
        pytest.skip(f"bytes pinned for {PINNED_VERSIONS}, this is {_versions()}")
    got = build(tmp_path, cascade_path)
    assert got == EXPECTED


if __name__ == "__main__":  # print the constants for this code and these inputs
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(_versions())
        for k, v in build(Path(d), Path(sys.argv[1])).items():
            print(f'    "{k}": "{v}",')
