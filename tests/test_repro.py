"""`prep repro`: which stages run, in which order, and what the lock keeps (toy pipelines)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from core.errors import UserError
from prep.pipeline.lock import read_lock
from prep.pipeline.runner import pipeline_status, reproduce
from prep.pipeline.spec import load_pipeline
from tests.conftest import run_cli
from tests.pipeline_toy import PY, edit_yaml, make_toy, runs


def repro(root: Path, targets=None, **kw) -> tuple[list[str], list[str]]:
    """Run the toy pipeline in-process; returns (stages run, printed lines)."""
    lines: list[str] = []
    reproduce(load_pipeline(root / "dvc.yaml"), targets or [], echo=lines.append, **kw)
    return runs(root), lines


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    root = make_toy(tmp_path / "proj")
    assert repro(root)[0] == ["a", "b", "c", "d"]
    return root


def test_first_run_in_order_then_second_run_does_nothing(tmp_path):
    root = make_toy(tmp_path / "proj")
    res = run_cli("prep", "repro", cwd=root)
    assert res.returncode == 0, res.stderr
    assert runs(root) == ["a", "b", "c", "d"]
    assert "Running stage 'a'" in res.stdout and "Ran 4 stage(s)" in res.stdout
    assert (root / "out/b.txt").read_text() == "source\n1\nx\n"
    assert sorted(p.name for p in (root / "out/c").rglob("*.txt")) == ["f0.txt", "f1.txt", "f2.txt"]

    again = run_cli("prep", "repro", cwd=root)
    assert again.returncode == 0, again.stderr
    assert runs(root) == []
    assert "Stage 'c' didn't change, skipping" in again.stdout
    assert again.stdout.strip().endswith("Data and pipelines are up to date.")


def test_changed_param_reruns_that_stage_and_downstream_only(toy):
    edit_yaml(toy / "params.yaml", lambda p: p["b"].update(suffix="y"))
    ran, lines = repro(toy)
    assert ran == ["b", "c"]
    assert any("Running stage 'b'" in ln and "params: modified b" in ln for ln in lines)
    assert (toy / "out/c/sub0/f0.txt").read_text() == "source\n1\ny\n0"
    assert repro(toy)[0] == []


def test_changed_dependency_reruns_its_stage(toy):
    (toy / "d_src.txt").write_text("new d source\n")
    ran, lines = repro(toy)
    assert ran == ["d"]
    assert any("deps: modified d_src.txt" in ln for ln in lines)
    (toy / "src.txt").write_text("other source\n")
    assert repro(toy)[0] == ["a", "b", "c"]


def test_changed_command_reruns_the_stage(toy):
    edit_yaml(toy / "dvc.yaml", lambda d: d["stages"]["c"].update(cmd=f"{PY} c tree out/c out/b.txt 2"))
    ran, lines = repro(toy)
    assert ran == ["c"] and any("changed command" in ln for ln in lines)
    assert len(list((toy / "out/c").rglob("*.txt"))) == 2


def test_deleted_output_reruns_its_stage_but_not_unaffected_downstream(toy):
    (toy / "out/b.txt").unlink()
    ran, lines = repro(toy)
    # b writes the same bytes again, so c's dependency did not change: DVC would not rerun c either.
    assert ran == ["b"]
    assert any("outs: deleted out/b.txt" in ln for ln in lines)
    (toy / "out/c/sub1/f1.txt").write_text("tampered")
    assert repro(toy)[0] == ["c"]
    assert (toy / "out/c/sub1/f1.txt").read_text() == "source\n1\nx\n1"


def test_non_persistent_outputs_are_removed_before_the_stage_runs(tmp_path):
    stages = {
        "keep": {"cmd": f"{PY} keep append out/keep.txt z", "outs": [{"out/keep.txt": {"persist": True}}]},
        "fresh": {"cmd": f"{PY} fresh append out/fresh.txt z", "outs": ["out/fresh.txt"]},
    }
    root = make_toy(tmp_path / "proj", stages)
    repro(root)
    (root / "out/fresh.txt").write_text("stale-")
    repro(root, force=True)
    assert (root / "out/keep.txt").read_text() == "zz"
    assert (root / "out/fresh.txt").read_text() == "z"


def test_frozen_and_always_changed(toy):
    edit_yaml(toy / "dvc.yaml", lambda d: d["stages"]["b"].update(frozen=True))
    edit_yaml(toy / "params.yaml", lambda p: p["b"].update(suffix="y"))
    ran, lines = repro(toy)
    assert ran == [] and "Stage 'b' is frozen, skipping" in lines
    assert pipeline_status(load_pipeline(toy / "dvc.yaml"))["b"] is None
    # a target behind a frozen stage does not pull in the frozen stage's upstream
    edit_yaml(toy / "params.yaml", lambda p: p["a"].update(value=2))
    assert repro(toy, ["c"])[0] == []

    edit_yaml(toy / "dvc.yaml", lambda d: d["stages"]["d"].update(always_changed=True))
    assert repro(toy, ["d"])[0] == ["d"]
    assert repro(toy, ["d"])[0] == ["d"]


def test_dry_runs_nothing(toy):
    lock_before = (toy / "dvc.lock").read_bytes()
    edit_yaml(toy / "params.yaml", lambda p: p["a"].update(value=5))
    ran, lines = repro(toy, dry=True)
    assert ran == []
    assert "Would run stage 'a' (changed command; params: modified a.value):" in lines
    assert "Would run stage 'b' (upstream stage 'a' would run):" in lines
    assert not any("'d'" in ln and "Would run" in ln for ln in lines)
    assert (toy / "dvc.lock").read_bytes() == lock_before
    assert (toy / "out/a.txt").read_text() == "source\n1\n"


def test_force_single_item_downstream_and_targets(toy):
    assert repro(toy, force=True)[0] == ["a", "b", "c", "d"]
    assert repro(toy, ["c"], force=True)[0] == ["a", "b", "c"]
    assert repro(toy, ["b"], force=True, single_item=True)[0] == ["b"]

    edit_yaml(toy / "params.yaml", lambda p: (p["a"].update(value=2), p["b"].update(suffix="y")))
    assert repro(toy, ["b"], single_item=True)[0] == ["b"]  # a changed too, but is not a target
    edit_yaml(toy / "params.yaml", lambda p: p["b"].update(suffix="z"))
    assert repro(toy, ["b"], downstream=True)[0] == ["b", "c"]  # a still not run
    assert repro(toy, ["b"])[0] == ["a", "b"]  # upstream first; c (downstream) not selected
    assert repro(toy)[0] == ["c"]

    with pytest.raises(UserError, match=r"no stage 'zz' in dvc.yaml \(stages: a, b, c, d\)"):
        repro(toy, ["zz"])


def test_failing_stage_stops_the_run_and_keeps_completed_stages(toy):
    edit_yaml(toy / "params.yaml", lambda p: p["a"].update(value=7))
    edit_yaml(toy / "dvc.yaml", lambda d: d["stages"]["b"].update(cmd=f"{PY} b fail 3"))
    res = run_cli("prep", "repro", cwd=toy)
    assert res.returncode == 3
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "stage 'b' failed with exit code 3" in err[0], res.stderr
    assert "Traceback" not in res.stderr
    assert runs(toy) == ["a", "b"]  # c never ran
    lock = read_lock(toy / "dvc.lock")
    assert lock["a"]["params"] == {"params.yaml": {"a.value": 7}}
    assert lock["b"]["cmd"].endswith("out/b.txt x out/a.txt")  # b's old entry is kept, so b stays changed
    assert set(pipeline_status(load_pipeline(toy / "dvc.yaml"))) == {"a", "b", "c", "d"}
    assert not pipeline_status(load_pipeline(toy / "dvc.yaml"))["a"]


def test_missing_dependency_and_missing_output_are_clear_errors(tmp_path):
    stages = {
        "nodep": {
            "cmd": f"{PY} nodep cat out/x.txt t absent.txt",
            "deps": ["absent.txt"],
            "outs": ["out/x.txt"],
        },
    }
    root = make_toy(tmp_path / "p1", stages)
    with pytest.raises(UserError, match=r"stage 'nodep': dependency 'absent\.txt' does not exist"):
        repro(root)
    stages = {"noout": {"cmd": f"{PY} noout append out/other.txt t", "outs": ["out/promised.txt"]}}
    root = make_toy(tmp_path / "p2", stages)
    with pytest.raises(UserError, match=r"did not create its output 'out/promised\.txt'"):
        repro(root)


def test_lock_file_is_dvc_schema_2(toy):
    raw = yaml.safe_load((toy / "dvc.lock").read_text())
    assert raw["schema"] == "2.0" and (toy / "dvc.lock").read_text().startswith("schema: '2.0'\n")
    assert list(raw["stages"]) == ["a", "b", "c", "d"]
    a = raw["stages"]["a"]
    assert list(a) == ["cmd", "deps", "params", "outs"]
    assert a["cmd"] == f"{PY} a cat out/a.txt 1 src.txt"
    src = (toy / "src.txt").read_bytes()
    assert a["deps"] == [
        {"path": "src.txt", "hash": "md5", "md5": hashlib.md5(src).hexdigest(), "size": len(src)}
    ]
    assert a["params"] == {"params.yaml": {"a.value": 1}}
    assert raw["stages"]["b"]["params"] == {"params.yaml": {"b": {"suffix": "x"}}}
    (out_c,) = raw["stages"]["c"]["outs"]
    files = sorted((toy / "out/c").rglob("*.txt"))
    assert out_c["path"] == "out/c" and out_c["hash"] == "md5" and out_c["md5"].endswith(".dir")
    assert out_c["nfiles"] == 3 and out_c["size"] == sum(f.stat().st_size for f in files)


def test_status_cli_reports_changes(toy):
    edit_yaml(toy / "params.yaml", lambda p: p["c"].update(n=4))
    os.remove(toy / "out/d.txt")
    res = run_cli("prep", "status", cwd=toy)
    assert res.returncode == 0, res.stderr
    assert "c:\n\tchanged params:\n\t\tmodified:           c.n\n\tchanged command" in res.stdout
    assert "d:\n\tchanged outs:\n\t\tdeleted:            out/d.txt" in res.stdout
    assert "a:" not in res.stdout
    assert run_cli("prep", "status", "-q", cwd=toy).returncode == 1
    res = run_cli("prep", "status", "--json", cwd=toy)  # `dvc status --json`'s shape
    assert json.loads(res.stdout) == {
        "c": [{"changed deps": {"params.yaml": {"c.n": "modified"}}}, "changed command"],
        "d": [{"changed outs": {"out/d.txt": "deleted"}}],
    }
    repro(toy)
    res = run_cli("prep", "status", cwd=toy)
    assert "Data and pipelines are up to date." in res.stdout
    assert run_cli("prep", "status", "-q", cwd=toy).returncode == 0


def test_dag_cli(toy):
    res = run_cli("prep", "dag", cwd=toy)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["a", "b  <- a", "c  <- b", "d"]
    dot = run_cli("prep", "dag", "--dot", cwd=toy).stdout
    assert '"a" -> "b";' in dot and '"b" -> "c";' in dot and dot.startswith("strict digraph {")


def test_single_item_and_downstream_need_a_stage(toy):
    res = run_cli("prep", "repro", "--downstream", cwd=toy)
    assert res.returncode == 2
    assert res.stderr.strip() == "prep: error: --single-item and --downstream need at least one STAGE"
