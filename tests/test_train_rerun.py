"""Rerunning a trainer as `prep repro` does (`--resume auto --on-change restart`, every defining
option on the command line): a run resumes when it was interrupted or only grew longer, starts
afresh (the old one kept beside it) when an option or the data that define it changed, and a
finished run with nothing changed is a no-op that leaves its summary as it is. Real tiny runs
through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.shards import iter_samples, read_index, write_index, write_shard
from tests.conftest import run_cli
from tests.test_dcgan import make_face_shards
from tests.test_pix2pix import make_lineart_shards
from train.engine.rundir import read_stats

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_face_shards(tmp_path_factory.mktemp("faces"), n=64, size=32, per_shard=(40, 24))


def dcgan(shards: Path, out: Path, kimg: float = 0.032, batch: int = 16, seed: int = 0):
    """`train dcgan` as dvc.yaml calls it (tiny networks, no metrics)."""
    return run_cli(
        "train", "dcgan", "--shards", str(shards), "--out", str(out), "--kimg", str(kimg), "--size", "32",
        "--batch", str(batch), "--seed", str(seed), "--resume", "auto", "--on-change", "restart",
        "--ngf", "8", "--ndf", "8", "--swd-n", "0", "--grid", "4", "--workers", "0", "--no-progress",
        "--data", "memory", "--tick-kimg", "0.016", env=ONE_THREAD,
    )  # fmt: skip


def superseded(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{out.name}.superseded-*"))


def test_reruns_resume_start_afresh_or_do_nothing(faces: Path, tmp_path: Path) -> None:
    """One run folder through every kind of change, as successive `prep repro` runs would see it."""
    data = tmp_path / "faces"
    shutil.copytree(faces, data)
    out = tmp_path / "runs" / "dcgan"
    first = dcgan(data, out)
    assert first.returncode == 0, first.stderr
    stats, options = (out / "_stats.json").read_bytes(), (out / "options.json").read_bytes()
    assert json.loads(stats)["steps"] == 2 and json.loads(stats)["snapshot"] is not None

    # nothing changed: nothing is trained, and the run's files stay as they are (no nulls)
    again = dcgan(data, out)
    assert again.returncode == 0, again.stderr
    assert "is complete" in again.stdout and again.stdout.strip().splitlines()[-1].startswith(
        "train dcgan: kimg=0.032 steps=2"
    )
    assert (out / "_stats.json").read_bytes() == stats and (out / "options.json").read_bytes() == options

    # only the length grew: the run continues its counters
    longer = dcgan(data, out, kimg=0.064)
    assert longer.returncode == 0, longer.stderr
    assert "resuming" in longer.stdout and not superseded(out)
    assert [r["step"] for r in read_stats(out / "stats.jsonl")] == [1, 2, 3, 4]
    assert json.loads((out / "_stats.json").read_text())["steps"] == 4

    # the batch changed: a fresh run, the old one kept beside it
    res = dcgan(data, out, kimg=0.064, batch=8)
    assert res.returncode == 0, res.stderr
    assert "--batch 8 (the run has 16)" in res.stdout and "new run" in res.stdout
    (old,) = superseded(out)
    assert json.loads((old / "options.json").read_text())["batch"] == 16 and list(old.glob("network-*.pt"))
    assert json.loads((out / "options.json").read_text())["batch"] == 8
    assert [r["step"] for r in read_stats(out / "stats.jsonl")] == [2, 4, 6, 8]  # from step 0, 8 per step

    # the data changed (more posts crawled: `prep faces` rewrote a shard and shards.json): a fresh run
    infos = read_index(data)
    samples = list(iter_samples(data / infos[-1].url))
    infos[-1] = write_shard(data / infos[-1].url, samples[:-4])
    write_index(data, infos, name="faces")
    res = dcgan(data, out, kimg=0.064, batch=8)
    assert res.returncode == 0, res.stderr
    assert "the data in --shards" in res.stdout and len(superseded(out)) == 2
    hashes = {
        json.loads((p / "options.json").read_text())["resolved"]["data_hash"] for p in [out, *superseded(out)]
    }
    assert len(hashes) == 2 and [r["step"] for r in read_stats(out / "stats.jsonl")] == [2, 4, 6, 8]

    # with the default --on-change fail the same kind of change is an error that names the option
    from core.errors import UserError
    from train.dcgan import DCGANOptions, train

    o = DCGANOptions(shards=str(data), out=str(out), size=32, batch=16, resume="auto", progress=False)
    with pytest.raises(UserError, match="--batch 16 differs from the run being resumed"):
        train(o, explicit={"batch"})


def test_pix2pix_reruns_follow_the_same_rules(tmp_path: Path, one_torch_thread: None) -> None:
    from train.pix2pix import Pix2PixOptions, train

    shards = tmp_path / "lineart"
    make_lineart_shards(shards, n_posts=12, size=16, per_shard=12)
    out = tmp_path / "runs" / "pix2pix"

    def pix2pix(batch: int) -> dict:
        o = Pix2PixOptions(
            shards=str(shards), out=str(out), kimg=0.016, size=16, batch=batch, tags_mode="plane",
            resume="auto", on_change="restart", ngf=8, ndf=8, workers=0, progress=False, data="memory",
            val_fraction=0.2,
        )  # fmt: skip
        return train(o, explicit={"kimg", "size", "batch", "tags_mode", "seed", "resume", "on_change"})

    assert pix2pix(8)["steps"] == 2
    stats = (out / "_stats.json").read_bytes()
    assert pix2pix(8)["steps"] == 2 and (out / "_stats.json").read_bytes() == stats  # a no-op
    assert pix2pix(4)["steps"] == 4 and len(superseded(out)) == 1  # another batch: a fresh run


def test_what_defines_a_run() -> None:
    """Length changes resume unless the run already went past the new end; no data hash is a change."""
    from train.commands.dcgan import DCGANOptions
    from train.engine.options import identity_names
    from train.engine.resume import changes

    ident = identity_names(DCGANOptions)
    assert {"batch", "seed", "size", "ngf", "lr"} <= set(ident) and "kimg" not in ident
    state = {"options": {"batch": 16, "kimg": 1.0, "steps": None, "seed": 0}, "counters": {"nimg": 512},
             "data": {"hash": "h"}}  # fmt: skip
    o = DCGANOptions(batch=16, kimg=0.8)
    assert changes(o, state, {"batch", "kimg"}, ident, "h") == []  # shorter, but not yet reached
    o.kimg = 0.4
    assert changes(o, state, {"batch", "kimg"}, ident, "h") == [
        "it has trained 0.512 kimg, more than the 0.400 now asked for"
    ]
    o.kimg = 2.0
    assert changes(o, {**state, "data": None}, set(), ident, "h") == [
        "the run records no data hash (written by an older version)"
    ]
