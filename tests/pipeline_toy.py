"""A small pipeline in a temporary folder for the stage-runner tests (not a test module itself).

Every stage runs `python tool.py STAGE OP ARGS...`, which appends its STAGE to runs.log, so a test
can tell exactly which stages ran and in what order.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

TOOL = r"""
import pathlib, sys
stage, op, *args = sys.argv[1:]
with open("runs.log", "a") as f:
    f.write(stage + "\n")
if op == "cat":  # cat OUT TEXT IN...: OUT = the inputs' text + TEXT
    out, text, *ins = args
    body = "".join(pathlib.Path(i).read_text() for i in ins) + text + "\n"
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(out).write_text(body)
elif op == "tree":  # tree OUTDIR IN N: N files holding IN's text and their number
    out, src, n = args
    for i in range(int(n)):
        p = pathlib.Path(out) / f"sub{i % 2}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(pathlib.Path(src).read_text() + str(i))
elif op == "append":  # append OUT TEXT
    pathlib.Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
    with open(args[0], "a") as f:
        f.write(args[1])
elif op == "fail":
    sys.exit(int(args[0]))
"""

PY = f'"{sys.executable}" tool.py'

PARAMS = {"a": {"value": 1}, "b": {"suffix": "x"}, "c": {"n": 3}}


def toy_stages() -> dict:
    """a -> b -> c (c writes a directory); d stands alone."""
    return {
        "a": {
            "cmd": f"{PY} a cat out/a.txt ${{a.value}} src.txt",
            "deps": ["src.txt"],
            "params": ["a.value"],
            "outs": ["out/a.txt"],
        },
        "b": {
            "cmd": f"{PY} b cat out/b.txt ${{b.suffix}} out/a.txt",
            "deps": ["out/a.txt"],
            "params": ["b"],
            "outs": ["out/b.txt"],
        },
        "c": {
            "cmd": f"{PY} c tree out/c out/b.txt ${{c.n}}",
            "deps": ["out/b.txt"],
            "params": ["c.n"],
            "outs": ["out/c"],
        },
        "d": {"cmd": f"{PY} d cat out/d.txt d d_src.txt", "deps": ["d_src.txt"], "outs": ["out/d.txt"]},
    }


def make_toy(root: Path, stages: dict | None = None, params: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tool.py").write_text(TOOL)
    (root / "src.txt").write_text("source\n")
    (root / "d_src.txt").write_text("d source\n")
    write_yaml(root / "params.yaml", params if params is not None else PARAMS)
    write_yaml(root / "dvc.yaml", {"stages": stages if stages is not None else toy_stages()})
    return root


def write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def edit_yaml(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    write_yaml(path, data)


def runs(root: Path) -> list[str]:
    """Stages run since the last call (and clear the log)."""
    log = root / "runs.log"
    if not log.exists():
        return []
    names = log.read_text().split()
    log.unlink()
    return names


def age(path: Path, seconds: float = 60) -> None:
    """Backdate a file's mtime so that the hash cache will trust it."""
    t = time.time() - seconds
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (t, t))
