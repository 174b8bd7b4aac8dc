"""Real DVC accepts the shipped dvc.yaml, runs it end to end, and agrees with `prep status`.

DVC is not a dependency of the project: scripts/setup-dvc.sh installs a pinned DVC into .venv-dvc
and scripts/test.sh sets $DVC_BIN to it. The tests use $DVC_BIN, else .venv-dvc/bin/dvc, else `dvc`
on PATH. Without one they skip, except under CI=true, where they fail: CI must check DVC.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from prep.pipeline.params import deep_merge
from tests.conftest import ROOT
from tests.pipeline_toy import edit_yaml, make_toy, runs, toy_stages
from tests.test_repro import repro

IN_CI = os.environ.get("CI") == "true"
PINNED = re.search(r"DVC_VERSION:-([0-9.]+)", (ROOT / "scripts/setup-dvc.sh").read_text()).group(1)
STAGES = ["crawl", "tags", "faces", "canny", "train_dcgan", "train_pix2pix"]


def _find_dvc() -> str | None:
    if os.environ.get("DVC_BIN"):
        return os.environ["DVC_BIN"]
    local = ROOT / ".venv-dvc" / "bin" / "dvc"
    return str(local) if local.is_file() else shutil.which("dvc")


DVC = _find_dvc()


@pytest.fixture(scope="module")
def dvc_env(tmp_path_factory) -> dict[str, str]:
    """The environment for DVC: no analytics (a daemon that would reach the internet), its site
    cache in a temp folder instead of /var/tmp/dvc, and this interpreter's prep/train first on PATH."""
    if not DVC or not os.access(DVC, os.X_OK):
        msg = f"DVC is not installed ({DVC or 'no dvc found'}): run scripts/setup-dvc.sh or set DVC_BIN"
        if IN_CI:
            pytest.fail(f"CI=true: {msg}")
        pytest.skip(msg)
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path_factory.mktemp("dvc-site-cache")),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("PREP_PARAMS", None)
    if IN_CI:  # CI checks the version docs/pipeline.md names
        version = subprocess.run([DVC, "--version"], env=env, capture_output=True, text=True).stdout.strip()
        assert version == PINNED, f"CI runs DVC {version}, scripts/setup-dvc.sh pins {PINNED}"
    return env


def dvc(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    res = subprocess.run([DVC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"dvc {' '.join(args)}: {res.stdout}{res.stderr}"
    return res


def init_repo(root: Path, env: dict[str, str]) -> None:
    dvc("init", "--no-scm", "-q", cwd=root, env=env)  # no git needed


def statuses(root: Path, env: dict[str, str]) -> tuple[dict, dict]:
    """(`dvc status --json`, `prep status --json`), parsed; prep's runs in-process (a second less)."""
    from typer.testing import CliRunner

    from prep.cli import app

    theirs = json.loads(dvc("status", "--json", cwd=root, env=env).stdout)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        res = CliRunner().invoke(app, ["status", "--json"], env={"PREP_PARAMS": None})
    finally:
        os.chdir(cwd)
    assert res.exit_code == 0, res.output
    return theirs, json.loads(res.stdout)


def test_setup_script_pins_the_version_the_docs_name():
    assert re.fullmatch(r"\d+\.\d+\.\d+", PINNED)
    assert f"DVC {PINNED}" in (ROOT / "docs/pipeline.md").read_text()


def test_dvc_accepts_the_shipped_pipeline(tmp_path, dvc_env):
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    init_repo(tmp_path, dvc_env)
    theirs, ours = statuses(tmp_path, dvc_env)
    assert theirs == ours  # nothing ran yet: every stage, worded as DVC words "never ran"
    assert set(ours) == set(STAGES)


def test_dvc_agrees_with_prep_lock(tmp_path, dvc_env):
    stages = toy_stages()
    for s in stages.values():  # no DVC cache: outputs stay plain files, as in the shipped pipeline
        s["outs"] = [{o: {"cache": False}} for o in s["outs"]]
    root = make_toy(tmp_path / "proj", stages)
    init_repo(root, dvc_env)
    repro(root)
    ours = (root / "dvc.lock").read_text()
    assert statuses(root, dvc_env) == ({}, {})
    dvc("commit", "-f", "-q", cwd=root, env=dvc_env)  # DVC rewrites the lock from its own hashes
    assert (root / "dvc.lock").read_text() == ours

    # every kind of change, each worded the same way by both
    edit_yaml(root / "dvc.yaml", lambda d: d["stages"]["d"].update(frozen=True))
    (root / "src.txt").write_text("changed by hand\n")
    edit_yaml(root / "params.yaml", lambda p: p["c"].update(n=4))
    (root / "out/b.txt").unlink()
    d_out = (root / "out/d.txt").read_bytes()
    (root / "d_src.txt").write_text("frozen: not reported\n")
    (root / "out/d.txt").write_text("but its outputs are\n")
    theirs, ours = statuses(root, dvc_env)
    assert theirs == ours
    assert ours == {
        "a": [{"changed deps": {"src.txt": "modified"}}],
        "b": [{"changed outs": {"out/b.txt": "deleted"}}],
        "c": [
            {"changed deps": {"out/b.txt": "deleted", "params.yaml": {"c.n": "modified"}}},
            "changed command",
        ],
        "d": [{"changed outs": {"out/d.txt": "modified"}}],
    }

    (root / "out/d.txt").write_bytes(d_out)  # its old bytes: the frozen stage is up to date again
    dvc("repro", "-q", cwd=root, env=dvc_env)
    assert runs(root) == ["a", "b", "c"]
    assert repro(root)[0] == []  # and prep agrees with DVC's lock


# -- the project's own dvc.yaml on the sample site, under real `dvc repro` --------------------------


def sample_params(api_url: str) -> dict:
    """params.yaml with params-sample.yaml over it (as scripts/demo.sh runs), made smaller still."""
    params = deep_merge(
        yaml.safe_load((ROOT / "params.yaml").read_text()),
        yaml.safe_load((ROOT / "params-sample.yaml").read_text()),
    )
    params["crawl"].update(api_url=api_url, limit=12, concurrency=2)
    params["faces"].update(size=32, workers=1)
    params["dcgan"].update(kimg=0.008, batch=8)  # one step each
    params["pix2pix"].update(kimg=0.004, batch=4)
    return params


@pytest.fixture(scope="module")
def sample_site_url() -> Iterator[str]:
    """`prep sample-site` on 127.0.0.1, on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "prep", "sample-site", "--port", "0", "--posts", "30"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("sample site: http://127.0.0.1:"), line
        yield line.split()[2]
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def sample_repo(tmp_path_factory, dvc_env, cascade_path, sample_site_url) -> Path:
    """A copy of the project's dvc.yaml with the sample params, after one real `dvc repro`."""
    root = tmp_path_factory.mktemp("sample-dvc")
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    (root / "params.yaml").write_text(yaml.safe_dump(sample_params(sample_site_url), sort_keys=False))
    env = {**dvc_env, "ANIMEFACE_CASCADE": str(cascade_path)}
    init_repo(root, env)
    out = dvc("repro", cwd=root, env=env).stdout
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out
    return root


def test_dvc_repro_runs_the_sample_pipeline_and_prep_agrees_it_is_up_to_date(sample_repo, dvc_env):
    lock = yaml.safe_load((sample_repo / "dvc.lock").read_text())
    assert list(lock["stages"]) == STAGES
    assert json.loads((sample_repo / "data/faces/shards.json").read_text())
    assert json.loads((sample_repo / "data/tags/vocab.json").read_text())
    for run in ("runs/dcgan", "runs/pix2pix"):
        assert list((sample_repo / run).glob("*.pt")), f"{run} has no snapshot"
    assert statuses(sample_repo, dvc_env) == ({}, {})


def test_after_a_params_change_dvc_and_prep_agree_on_what_changed(sample_repo, dvc_env):
    params = sample_repo / "params.yaml"
    before = params.read_text()
    try:
        # faces.size is tracked by faces (the whole section) and by both trainers (that one key)
        edit_yaml(params, lambda p: (p["faces"].update(size=64), p["canny"].update(low=90)))
        theirs, ours = statuses(sample_repo, dvc_env)
        assert theirs == ours
        assert set(ours) == {"faces", "canny", "train_dcgan", "train_pix2pix"}  # not crawl, not tags
        assert ours["faces"] == [{"changed deps": {"params.yaml": {"faces": "modified"}}}, "changed command"]
        assert ours["train_dcgan"][0] == {"changed deps": {"params.yaml": {"faces.size": "modified"}}}
    finally:
        params.write_text(before)


def test_changed_dcgan_batch_reruns_only_train_dcgan_as_a_fresh_run(sample_repo, dvc_env):
    """dcgan.batch defines the run: `dvc repro` reruns train_dcgan, which trains anew (issue 11.3)."""
    edit_yaml(sample_repo / "params.yaml", lambda p: p["dcgan"].update(batch=4))
    theirs, ours = statuses(sample_repo, dvc_env)
    assert theirs == ours
    assert ours == {
        "train_dcgan": [{"changed deps": {"params.yaml": {"dcgan": "modified"}}}, "changed command"]
    }
    out = dvc("repro", cwd=sample_repo, env=dvc_env).stdout
    assert re.findall(r"Running stage '(\w+)'", out) == ["train_dcgan"]
    run = sample_repo / "runs/dcgan"
    assert json.loads((run / "options.json").read_text())["batch"] == 4
    assert json.loads((run / "_stats.json").read_text())["steps"] == 2  # 0.008 kimg at 4: trained anew
    assert len(list(run.parent.glob("dcgan.superseded-*"))) == 1  # the old run, set aside
    assert statuses(sample_repo, dvc_env) == ({}, {})
