"""`train tagger` on real face shards cut from the sample site's synthetic illustrations: their JSON
holds the post's tags, as `prep faces` writes it, and the hair colour drawn matches the hair tag.

The faces are the single-face posts with blue, red or blonde hair (a three-colour world keeps the
runs tiny while every colour has many faces); 32 px, one torch thread.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from core.errors import UserError
from core.shards import write_index, write_shard
from crawl.synthetic_faces import tagged_face_shards
from train.engine.rundir import read_stats
from train.tagger import TaggerOptions, average_precision, load_tagger, select_tags, train

HAIR = ("blue_hair", "red_hair", "blonde_hair")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_tagged_faces(out: Path, n: int = 240, size: int = 32) -> Path:
    """Face crops of single-face synthetic posts with a hair colour in HAIR, with the JSON `prep faces`
    writes (post id, face index, the post's tags); one shard."""
    return tagged_face_shards(out, n, size, hair=HAIR)


def tagger_options(shards: Path, out: Path, **kw: object) -> TaggerOptions:
    base = dict(shards=str(shards), out=str(out), tags=8, width=8, kimg=1.5, tick_kimg=0.5, snap_kimg=1.5,
                batch=32, lr=2e-3, workers=0, progress=False, device="cpu")  # fmt: skip
    return TaggerOptions(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tagged_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tagged_faces(tmp_path_factory.mktemp("tagged") / "faces")


@pytest.fixture(scope="session")
def tagger_run(tagged_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `train tagger` run on the tagged faces (1.5 kimg, one torch thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("tagger") / "run"
        train(tagger_options(tagged_faces, out))
    finally:
        torch.set_num_threads(n)
    return out


def test_select_tags_and_average_precision() -> None:
    lists = [["a", "b"], ["a"], ["a", "c"], ["b"], ["a", "b", "z"]]
    # "a": 4 with, 1 without; "b": 3/2; "c", "z": 1/4
    assert select_tags(lists, 5, 1) == ["a", "b", "c", "z"]
    assert select_tags(lists, 1, 1) == ["a"]
    assert select_tags(lists, 5, 2) == ["b"]  # "a" has only one face without it
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.3]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    ap = average_precision(scores, labels)
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2, abs=1e-4) and ap[1] is None


def test_tagger_learns_hair_colours_and_reports_ap(tagger_run: Path, tagged_faces: Path) -> None:
    records = read_stats(tagger_run / "stats.jsonl")
    evals = [r for r in records if "ap" in r]
    assert evals and set(evals[-1]["ap"]) >= set(HAIR)
    summary = json.loads((tagger_run / "_stats.json").read_text())
    assert summary["stage"] == "train-tagger" and summary["map"] == evals[-1]["map"]
    # the hair colours are what the pictures show: held-out AP well above the base rate (about 1/3)
    assert all(summary["ap"][t] > 0.6 for t in HAIR), summary["ap"]
    tagger = load_tagger(tagger_run)
    assert tagger.tags == summary["tags"] and tagger.size == 32
    from train.loader import load_into_memory, open_shards

    data = load_into_memory(
        open_shards(tagged_faces, fields=("png", "json")), fields=("png", "json"), progress=False
    )
    scores = tagger.score(data["png"][:64].float() / 127.5 - 1)
    j = tagger.tags.index("blue_hair")
    blue = torch.tensor(["blue_hair" in m["tags"] for m in data["json"][:64]])
    assert scores[blue, j].mean() > scores[~blue, j].mean() + 0.2


def test_tagger_bad_input(tagged_faces: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--tags"):
        train(tagger_options(tagged_faces, tmp_path / "a", tags=0))
    with pytest.raises(UserError, match="--min-positives"):
        train(tagger_options(tagged_faces, tmp_path / "b", min_positives=10_000))
    # face shards without tags in their JSON (e.g. hand-made ones)
    bare = tmp_path / "bare"
    bare.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, format="PNG")
    write_index(
        bare,
        [write_shard(bare / "faces-000000.tar", [("k0", {"png": buf.getvalue(), "json": b"{}"})])],
        "faces",
    )
    with pytest.raises(UserError, match="no tags"):
        train(tagger_options(bare, tmp_path / "c"))
    with pytest.raises(UserError, match="missing"):
        train(tagger_options(tmp_path / "missing", tmp_path / "d"))
