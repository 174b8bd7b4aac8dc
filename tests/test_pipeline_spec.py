"""Parsing dvc.yaml: interpolation, params, and mistakes reported with the file and the stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prep.pipeline.dag import Graph
from prep.pipeline.spec import SpecError, load_pipeline
from tests.conftest import ROOT, run_cli
from tests.pipeline_toy import make_toy, toy_stages, write_yaml


def spec_error(root: Path) -> str:
    with pytest.raises(SpecError) as e:
        Graph(load_pipeline(root / "dvc.yaml"))
    return str(e.value)


def test_interpolation_params_and_vars(tmp_path):
    write_yaml(
        tmp_path / "params.yaml", {"crawl": {"tags": "1girl solo", "limit": 5, "on": True, "xs": [3, 4]}}
    )
    write_yaml(tmp_path / "extra.yaml", {"size": 96, "other": 1})
    write_yaml(
        tmp_path / "dvc.yaml",
        {
            "vars": ["extra.yaml:size", {"name": "run1"}],
            "stages": {
                "s": {
                    "cmd": 'go --tags "${crawl.tags}" -n ${crawl.limit} --on ${crawl.on} ${crawl.xs[1]} \\${lit}',
                    "wdir": ".",
                    "deps": ["in/${name}.txt"],
                    "outs": [{"out/${size}": {"persist": True}}],
                    "params": ["crawl.limit", {"extra.yaml": ["size"]}, {"extra.yaml": None}],
                    "frozen": False,
                    "desc": "size ${size}",
                }
            },
        },
    )
    s = load_pipeline(tmp_path / "dvc.yaml").stages["s"]
    assert s.cmd == 'go --tags "1girl solo" -n 5 --on true 4 ${lit}'
    assert s.deps == ["in/run1.txt"] and s.outs[0].path == "out/96" and s.outs[0].persist
    assert s.params == {"params.yaml": {"crawl.limit": 5}, "extra.yaml": {"size": 96, "other": 1}}
    assert s.desc == "size 96"


def test_params_override_is_merged_over_params_yaml(tmp_path):
    root = make_toy(tmp_path / "p")
    write_yaml(root / "sample.yaml", {"b": {"suffix": "sample"}})
    p = load_pipeline(root / "dvc.yaml", root / "sample.yaml")
    assert p.stages["b"].cmd.endswith("out/b.txt sample out/a.txt")
    assert p.stages["a"].params == {"params.yaml": {"a.value": 1}}
    with pytest.raises(Exception, match=r"--params: file .* does not exist"):
        load_pipeline(root / "dvc.yaml", root / "nope.yaml")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["b"].update(depz=["x"]), "dvc.yaml: stage 'b': unknown key 'depz'"),
        (
            lambda s: s["c"]["outs"].__setitem__(0, {"out/c": {"persit": True}}),
            "stage 'c': outs 'out/c': unknown key 'persit'",
        ),
        (
            lambda s: s["a"]["deps"].append("out/c/sub0/f0.txt"),
            "dvc.yaml: stage 'a': dependency cycle: a -> b -> c -> a",
        ),
        (lambda s: s["b"].update(cmd="x ${b.nope}"), "dvc.yaml: stage 'b': ${b.nope} is not defined"),
        (
            lambda s: s["d"].update(outs=["out/b.txt"]),
            "dvc.yaml: stage 'd': output 'out/b.txt' is also written by stage 'b'",
        ),
        (
            lambda s: s["d"].update(outs=["out/c/x.txt"]),
            "stage 'd': output 'out/c/x.txt' overlaps output 'out/c' of stage 'c'",
        ),
        (
            lambda s: s["a"].update(params=["a.nope"]),
            "dvc.yaml: stage 'a': param 'a.nope' is not defined in 'params.yaml'",
        ),
        (
            lambda s: s["a"].update(params=[{"other.yaml": ["k"]}]),
            "stage 'a': params file 'other.yaml' does not exist",
        ),
        (lambda s: s["a"].pop("cmd"), "dvc.yaml: stage 'a': missing 'cmd'"),
        (lambda s: s["a"].update(frozen="yes"), "stage 'a': 'frozen' must be true or false"),
        (lambda s: s["a"].update(deps=["/abs/path"]), "stage 'a': deps path '/abs/path' must be relative"),
        (lambda s: s["a"].update(foreach=[1], do={}), "stage 'a': 'foreach' is valid DVC but not supported"),
        (
            lambda s: s["a"].update(cmd="x ${a}"),
            "stage 'a': ${a} is a dict, which cannot be written into a string",
        ),
        (
            lambda s: s["b"].update(deps=["out/b.txt"]),
            "stage 'b': dependency 'out/b.txt' is also one of its own outputs",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_stage(tmp_path, mutate, expected):
    stages = toy_stages()
    mutate(stages)
    root = make_toy(tmp_path / "p", stages)
    assert expected in spec_error(root)


def test_top_level_mistakes(tmp_path):
    root = make_toy(tmp_path / "p")
    (root / "dvc.yaml").write_text("stages:\n  a:\n    cmd: [unclosed\n")
    assert spec_error(root).startswith("dvc.yaml: not valid YAML")
    write_yaml(root / "dvc.yaml", {"stages": toy_stages(), "stagez": {}})
    assert "dvc.yaml: unknown top-level key 'stagez'" in spec_error(root)
    (root / "dvc.yaml").unlink()
    res = run_cli("prep", "repro", cwd=root)
    assert res.returncode == 2 and res.stderr.startswith("prep: error: dvc.yaml not found in ")


def test_cli_reports_spec_errors_in_one_line(tmp_path):
    stages = toy_stages()
    stages["c"]["cmd"] = "x ${c.missing}"
    root = make_toy(tmp_path / "p", stages)
    for cmd in ("repro", "status", "dag"):
        res = run_cli("prep", cmd, cwd=root)
        assert res.returncode == 2
        assert res.stderr.strip() == (
            "prep: error: dvc.yaml: stage 'c': ${c.missing} is not defined (params.yaml and vars hold no such key)"
        )


def test_shipped_pipeline_parses_and_reads_params(tmp_path):
    p = load_pipeline(ROOT / "dvc.yaml")
    g = Graph(p)
    assert g.order[:2] == ["crawl", "tags"] and {"faces", "canny", "train_dcgan"} <= set(g.order)
    assert g.upstream["canny"] == ["faces", "tags"]
    crawl = p.stages["crawl"]
    assert crawl.outs[0].persist and crawl.outs[0].path == "data/raw"
    assert "--api-url https://safebooru.org" in crawl.cmd and "${" not in crawl.cmd
    assert not any(o.persist for s in ("tags", "faces", "canny") for o in p.stages[s].outs)
    sample = load_pipeline(ROOT / "dvc.yaml", ROOT / "params-sample.yaml")
    assert "--api-url http://127.0.0.1:8000" in sample.stages["crawl"].cmd
    assert sample.stages["faces"].cmd == p.stages["faces"].cmd.replace(
        "--shard-size 1000", "--shard-size 100"
    ).replace("--size 96", "--size 32")

    # a dry run of the shipped file, in a copy so that no lock or cache lands in the project
    for name in ("dvc.yaml", "params.yaml", "params-sample.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    res = run_cli("prep", "repro", "--dry", "--params", "params-sample.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Would run stage 'train_dcgan'" in res.stdout and not (tmp_path / "dvc.lock").exists()
