"""Real DVC accepts the shipped dvc.yaml and agrees with the lock that `prep repro` writes.

Runs wherever a `dvc` executable is found ($PREP_TEST_DVC, else PATH); skipped otherwise.
DVC is not a dependency of this project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.pipeline_toy import make_toy, runs, toy_stages
from tests.test_repro import repro

DVC = os.environ.get("PREP_TEST_DVC") or shutil.which("dvc")
pytestmark = pytest.mark.skipif(not DVC or not shutil.which("git"), reason="dvc (or git) is not installed")


def dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    res = subprocess.run([DVC, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"dvc {' '.join(args)}: {res.stdout}{res.stderr}"
    return res


def init_repo(root: Path) -> None:
    subprocess.run(["git", "init", "-q", "."], cwd=root, check=True)
    dvc("init", "-q", cwd=root)


def test_dvc_accepts_the_shipped_pipeline(tmp_path):
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    init_repo(tmp_path)
    out = dvc("dag", "--dot", cwd=tmp_path).stdout
    for edge in ("crawl", "tags", "faces", "canny", "train_dcgan"):
        assert edge in out
    assert "crawl:" in dvc("status", cwd=tmp_path).stdout


def test_dvc_agrees_with_prep_lock(tmp_path):
    stages = toy_stages()
    for s in stages.values():  # no DVC cache: outputs stay plain files, as in the shipped pipeline
        s["outs"] = [{o: {"cache": False}} for o in s["outs"]]
    root = make_toy(tmp_path / "proj", stages)
    init_repo(root)
    repro(root)
    ours = (root / "dvc.lock").read_text()
    assert "up to date" in dvc("status", cwd=root).stdout
    dvc("commit", "-f", "-q", cwd=root)  # DVC rewrites the lock from its own hashes
    assert (root / "dvc.lock").read_text() == ours

    (root / "src.txt").write_text("changed by hand\n")
    dvc("repro", "-q", cwd=root)
    assert runs(root) == ["a", "b", "c"]
    assert repro(root)[0] == []  # and prep agrees with DVC's lock
