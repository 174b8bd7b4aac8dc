"""`prep tags`: vocabulary selection, vocab.json, load_vocab and tag vectors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from core.atomic import atomic_write_parquet
from core.errors import UserError
from crawl.synthetic import write_raw_store
from prep.tags import build_vocab, is_meta, load_vocab, run_tags
from schemas.crawl import POSTS_SCHEMA
from schemas.tags import VOCAB_FILE
from schemas.validate import validate_sample_json, validate_table
from tests.conftest import run_cli


@pytest.mark.parametrize(
    "tag",
    [
        "highres",
        "absurdres",
        "commentary_request",
        "english_commentary",
        "commentary_typo",
        "translated",
        "bad_id",
        "bad_pixiv_id",
        "md5_mismatch",
        "tagme",
        "artist_request",
        "pixiv_sample",
    ],
)
def test_meta_tags(tag):
    assert is_meta(tag)


@pytest.mark.parametrize("tag", ["1girl", "blonde_hair", "signature", "bad_anatomy", "watermark", ">_<"])
def test_picture_tags_are_not_meta(tag):
    assert not is_meta(tag)


POSTS = [
    ["1girl", "solo", "blue_eyes", "highres", "solo"],  # repeated tag counts once
    ["1girl", "red_eyes", "commentary_request"],
    ["1girl", "solo", "blue_eyes"],
    ["2girls", "highres", "blue_eyes"],
    ["1girl", "aaa_rare"],
]


def test_build_vocab_orders_by_count_then_name():
    vocab, stats = build_vocab(POSTS, top=10, min_count=2, exclude_meta=True)
    assert vocab.tags == ("1girl", "blue_eyes", "solo")
    assert vocab.counts == (4, 3, 2)
    assert vocab.hash == hashlib.sha256(b"1girl\nblue_eyes\nsolo").hexdigest()
    assert stats["dropped"] == {"meta": 2, "below_min_count": 3, "beyond_top": 0}
    assert stats["source_posts"] == 5 and stats["distinct_tags"] == 8

    kept, _ = build_vocab(POSTS, top=10, min_count=2, exclude_meta=False)
    assert kept.tags == ("1girl", "blue_eyes", "highres", "solo")  # ties (2) broken by name
    top2, stats2 = build_vocab(POSTS, top=2, min_count=1, exclude_meta=True)
    assert top2.tags == ("1girl", "blue_eyes") and stats2["dropped"] == {
        "meta": 2,
        "below_min_count": 0,
        "beyond_top": 4,
    }


def test_vector_unknown_and_inverse():
    vocab, _ = build_vocab(POSTS, top=10, min_count=1)
    v = vocab.vector(["solo", "not_a_tag", "1girl", "solo"])
    assert v.dtype == np.uint8 and v.shape == (len(vocab),) and v.sum() == 2
    assert v[vocab.index["1girl"]] == 1 and v[vocab.index["solo"]] == 1
    assert vocab.unknown(["solo", "not_a_tag", "x", "not_a_tag"]) == ["not_a_tag", "x"]
    assert vocab.tags_of(v) == ["1girl", "solo"]
    assert vocab.vector([]).sum() == 0
    with pytest.raises(ValueError, match="length"):
        vocab.tags_of(np.zeros(len(vocab) + 1))


@pytest.fixture
def raw(tmp_path):
    """A crawl manifest where one post is not 'ok' (its tags must not count)."""
    df = write_raw_store(tmp_path / "raw", 8, seed=2, size=(64, 64))
    df.loc[0, "status"] = "filtered"
    df.at[0, "tags"] = ["only_in_filtered"]
    extra = df.iloc[[0]].copy()
    extra["id"] = 99999
    df = pd.concat([df, extra], ignore_index=True)
    atomic_write_parquet(tmp_path / "raw" / "posts.parquet", validate_table(df, POSTS_SCHEMA))
    return tmp_path / "raw", df


def test_run_tags_writes_a_loadable_deterministic_vocab(raw, tmp_path):
    src, df = raw
    stats = run_tags(src, tmp_path / "tags", top=1000, min_count=1, exclude_meta=True)
    path = tmp_path / "tags" / "vocab.json"
    obj = validate_sample_json(json.loads(path.read_text()), VOCAB_FILE)
    ok = df[df.status == "ok"]
    assert obj["source_posts"] == len(ok) == stats["source_posts"]
    assert "only_in_filtered" not in obj["tags"]
    expected = {t for tags in ok.tags for t in tags if not is_meta(t)}
    assert set(obj["tags"]) == expected
    assert obj["counts"] == sorted(obj["counts"], reverse=True)
    assert obj["counts"][obj["tags"].index("simple_background")] == len(ok)
    first = path.read_bytes()
    run_tags(src, tmp_path / "tags", top=1000, min_count=1, exclude_meta=True)
    assert path.read_bytes() == first
    vocab = load_vocab(tmp_path / "tags")  # a folder means its vocab.json
    assert vocab.tags == tuple(obj["tags"]) and vocab.hash == obj["hash"] and vocab.meta["top"] == 1000
    stats_file = json.loads((tmp_path / "tags" / "_stats.json").read_text())
    assert stats_file["stage"] == "tags" and stats_file["vocab_hash"] == vocab.hash


def test_load_vocab_refuses_bad_files(raw, tmp_path):
    src, _ = raw
    run_tags(src, tmp_path / "tags", top=5, min_count=1, exclude_meta=False)
    path = tmp_path / "tags" / "vocab.json"
    with pytest.raises(UserError, match="prep tags"):
        load_vocab(tmp_path / "missing.json")
    obj = json.loads(path.read_text())
    obj["tags"][0], obj["tags"][1] = obj["tags"][1], obj["tags"][0]
    path.write_text(json.dumps(obj))
    with pytest.raises(UserError, match="hash"):
        load_vocab(path)
    path.write_text("{not json")
    with pytest.raises(UserError, match="not a tag vocabulary"):
        load_vocab(path)
    del obj["top"]
    path.write_text(json.dumps(obj))
    with pytest.raises(UserError, match="top"):
        load_vocab(path)


def test_cli(raw, tmp_path):
    src, _ = raw
    res = run_cli("prep", "tags", "--src", str(src), "--out", str(tmp_path / "t"), "--top", "3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith("tags: source_posts=7") and "vocab_size=3" in res.stdout
    assert len(json.loads((tmp_path / "t" / "vocab.json").read_text())["tags"]) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, needle in [
        (["--src", str(tmp_path / "nope")], "--src"),
        (["--src", str(empty)], "posts.parquet"),
        (["--src", str(src), "--top", "0"], "--top"),
        (["--src", str(src), "--min-count", "100"], "--min-count"),
    ]:
        res = run_cli("prep", "tags", *args, "--out", str(tmp_path / "bad"), cwd=tmp_path)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "bad").exists()
    (tmp_path / "file").write_text("in the way")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        res = run_cli("prep", "tags", "--src", str(src), "--out", str(out), cwd=tmp_path)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and f"--out {out}" in lines[0], res.stderr


def test_core_vocab_fields_match_the_schema():
    from core.vocab import VOCAB_FIELDS

    names = {list: "list", str: "str", int: "int", bool: "bool"}
    spelled = {k: f"list[{names[i]}]" if i else names[t] for k, (t, i) in VOCAB_FIELDS.items()}
    assert spelled == VOCAB_FILE
