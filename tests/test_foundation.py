"""Packaging pins, CLI start-up and the shared shard/schema/atomic-write helpers."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from importlib.metadata import requires

import pyarrow as pa
import pytest

from core.atomic import atomic_open, atomic_write_json
from core.shards import iter_samples, read_index, shard_info, write_index, write_shard
from schemas import SchemaError, validate_sample_json, validate_table
from schemas.crawl import POSTS_SCHEMA
from tests.conftest import run_cli


def test_opencv_pin_has_cascade_classifier():
    import cv2

    assert int(cv2.__version__.split(".")[0]) < 5
    assert hasattr(cv2, "CascadeClassifier")
    pins = [r for r in requires("booru-gan") if r.startswith("opencv")]
    assert pins and all("<5" in p for p in pins), pins


def test_torch_is_cpu_build_without_gpu():
    import torch

    if not torch.cuda.is_available():
        # setup.sh must have installed the CPU build rather than the CUDA wheels
        assert torch.version.cuda is None


@pytest.mark.parametrize("prog", ["prep", "train"])
def test_cli_help_and_no_heavy_imports(prog):
    code = (
        f"import sys; from {prog}.cli import app; "
        "heavy = [m for m in ('torch', 'cv2', 'pandas', 'webdataset') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{prog} imports heavy modules at start-up: {out.stdout}"
    res = run_cli(prog, "--help")
    assert res.returncode == 0 and "Usage" in res.stdout


def test_shards_are_deterministic_and_indexed(tmp_path):
    samples = [
        (f"s{i:03d}", {"png": bytes([i]) * 10, "json": json.dumps({"i": i}).encode()}) for i in range(5)
    ]
    a = write_shard(tmp_path / "a" / "x-000000.tar", samples)
    b = write_shard(tmp_path / "b" / "x-000000.tar", samples)
    data = (tmp_path / "a" / "x-000000.tar").read_bytes()
    assert data == (tmp_path / "b" / "x-000000.tar").read_bytes()
    assert a == b and a.nsamples == 5 and a.md5sum == hashlib.md5(data).hexdigest()
    assert shard_info(tmp_path / "a" / "x-000000.tar") == a
    with tarfile.open(tmp_path / "a" / "x-000000.tar") as tar:
        assert {m.mtime for m in tar.getmembers()} == {0}
    back = list(iter_samples(tmp_path / "a" / "x-000000.tar"))
    assert [k for k, _ in back] == [k for k, _ in samples]
    assert back[2][1]["png"] == bytes([2]) * 10
    write_index(tmp_path / "a", [a], name="x")
    assert read_index(tmp_path / "a") == [a]
    assert not list((tmp_path / "a").glob("*.tmp"))
    with pytest.raises(ValueError, match="invalid sample key"):
        write_shard(tmp_path / "c.tar", [("a.b", {"png": b""})])


def test_atomic_open_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_open(target, "w") as f:
        f.write("half")
        raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_validate_table_and_sample_json():
    row = {name: [None] for name in POSTS_SCHEMA.names}
    row.update(id=[1], tags=[["a", "b"]], status=["ok"])
    table = validate_table(pa.table(row), POSTS_SCHEMA)
    assert table.schema.equals(POSTS_SCHEMA)
    with pytest.raises(SchemaError, match="missing columns"):
        validate_table(pa.table({"id": [1]}), POSTS_SCHEMA)
    with pytest.raises(SchemaError, match="nulls"):
        validate_table(pa.table({**row, "id": pa.array([None], pa.int64())}), POSTS_SCHEMA)
    spec = {"post_id": "int", "tags": "list[str]", "score": "int?"}
    validate_sample_json({"post_id": 1, "tags": ["x"], "score": None}, spec)
    with pytest.raises(SchemaError, match="expected int"):
        validate_sample_json({"post_id": "1", "tags": [], "score": 1}, spec)
    with pytest.raises(SchemaError, match="unexpected fields"):
        validate_sample_json({"post_id": 1, "tags": [], "score": 1, "x": 0}, spec)


def test_atomic_files_get_normal_permissions(tmp_path):
    from core import atomic

    atomic_write_json(tmp_path / "a.json", {})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK
