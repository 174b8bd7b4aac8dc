"""The documents match the code: documented commands and options exist, overview.md maps every
module, and data-format.md lists every column and field of every schema."""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

import schemas

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OVERVIEW = ROOT / "docs" / "overview.md"
DATA_FORMAT = ROOT / "docs" / "data-format.md"
PACKAGES = ("crawl", "prep", "train", "schemas")

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
# `prep <sub>` / `train <sub>` where the word is a command, not part of a path (prep/, .prep/, train.loader)
_COMMAND = re.compile(r"(?<![\w./-])(prep|train)[ \t]+([a-z][a-z0-9-]*)")
# a command ends at a shell separator or a comment (or the | of a diagram)
_END = re.compile(r"\s#|;|&&|\|\||\||\)")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def code_snippets(text: str) -> list[str]:
    """Lines of fenced code blocks (backslash continuations joined) and inline code spans."""
    snippets: list[str] = []
    for block in _FENCE.findall(text):
        snippets += block.replace("\\\n", " ").splitlines()
    rest = _FENCE.sub("", text)
    snippets += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", rest)]
    return snippets


def documented_commands(text: str) -> list[tuple[str, str, list[str]]]:
    """(program, subcommand, options used) for every `prep ...`/`train ...` in the code of `text`."""
    found = []
    for snippet in code_snippets(text):
        for m in _COMMAND.finditer(snippet):
            tail = snippet[m.end() :]
            if end := _END.search(tail):
                tail = tail[: end.start()]
            found.append((m.group(1), m.group(2), _OPTION.findall(_QUOTED.sub('""', tail))))
    return found


def all_documented() -> dict[tuple[str, str], dict[str, set[str]]]:
    """{(program, sub): {option: {doc files using it}}}, over README.md and docs/*.md."""
    out: dict[tuple[str, str], dict[str, set[str]]] = {}
    for doc in DOCS:
        for prog, sub, options in documented_commands(doc.read_text(encoding="utf-8")):
            opts = out.setdefault((prog, sub), {})
            for o in options:
                opts.setdefault(o, set()).add(doc.name)
    return out


@functools.cache
def help_text(prog: str, sub: str) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    r = subprocess.run(
        [sys.executable, "-m", prog, sub, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return r.returncode, r.stdout + r.stderr


def test_extraction_finds_commands_options_and_skips_paths():
    text = (
        'Run `prep crawl --tags "1girl -monochrome" --limit 5`, see `prep/faces.py` and `.prep/`.\n'
        "```bash\nprep repro -f -s crawl   # --not-an-option\ntrain dcgan --shards data/faces \\\n"
        "  --batch 8 | tee log\nPREP_PARAMS=x.yaml prep status\n```\n"
        "Inline across lines: `train sample --ckpt runs/dcgan\n--n 4`."
    )
    assert documented_commands(text) == [
        ("prep", "repro", ["-f", "-s"]),
        ("train", "dcgan", ["--shards", "--batch"]),
        ("prep", "status", []),
        ("prep", "crawl", ["--tags", "--limit"]),
        ("train", "sample", ["--ckpt", "--n"]),
    ]


def test_readme_walkthrough_covers_the_chain():
    found = all_documented()
    for cmd in [
        ("prep", "crawl"),
        ("prep", "tags"),
        ("prep", "faces"),
        ("prep", "canny"),
        ("prep", "verify"),
        ("prep", "show"),
        ("prep", "report"),
        ("prep", "repro"),
        ("train", "dcgan"),
        ("train", "sample"),
        ("train", "pix2pix"),
        ("train", "colorize"),
    ]:
        assert cmd in found, f"`{' '.join(cmd)}` is not documented anywhere"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme


def test_every_documented_command_and_option_exists():
    problems = []
    for (prog, sub), options in sorted(all_documented().items()):
        rc, out = help_text(prog, sub)
        if rc != 0:
            problems.append(f"`{prog} {sub}` does not exist (`{prog} {sub} --help` exited {rc})")
            continue
        for opt, where in sorted(options.items()):
            if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", out):
                problems.append(f"`{prog} {sub}` has no option {opt} (used in {', '.join(sorted(where))})")
    assert not problems, "\n".join(problems)


def _overview_paths(text: str) -> set[str]:
    """Paths named in overview.md: first cells of its tables, and inline code under a repo folder."""
    paths = set(re.findall(r"^\|\s*`([^`]+)`\s*\|", text, re.M))
    tops = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for span in re.findall(r"`([^`\s]+)`", _FENCE.sub("", text)):
        if span.split("/", 1)[0] in tops and "/" in span and not re.search(r"[<>*]", span):
            paths.add(span)
    return paths


def test_overview_paths_exist():
    missing = sorted(
        p for p in _overview_paths(OVERVIEW.read_text(encoding="utf-8")) if not (ROOT / p).exists()
    )
    assert not missing, f"docs/overview.md names files that do not exist: {missing}"


def test_overview_maps_every_module():
    text = OVERVIEW.read_text(encoding="utf-8")
    named = _overview_paths(text)
    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert len(modules) > 40
    unmapped = [m for m in modules if m not in named]
    assert not unmapped, f"docs/overview.md has no line for {unmapped}"


def _schema_objects() -> dict[str, pa.Schema | dict[str, str]]:
    """Every pyarrow schema and sample/file field spec defined in the schemas package."""
    found: dict[str, pa.Schema | dict[str, str]] = {}
    for info in pkgutil.iter_modules(schemas.__path__):
        mod = importlib.import_module(f"schemas.{info.name}")
        for name, value in vars(mod).items():
            if isinstance(value, pa.Schema) or (
                name.endswith(("_SAMPLE", "_FILE")) and isinstance(value, dict)
            ):
                found[name] = value
    return found


def _table_after(text: str, name: str) -> list[list[str]]:
    """Rows (cells, backticks stripped) of the first table under the heading that names `name`."""
    heading = re.search(rf"^#+ .*`{re.escape(name)}`.*$", text, re.M)
    assert heading, f"docs/data-format.md has no heading naming `{name}`"
    rows = []
    for line in text[heading.end() :].lstrip("\n").splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if not set(cells[0]) <= set("-: "):
            rows.append(cells)
    return rows[1:]  # without the header row


def test_data_format_lists_every_schema_field():
    text = DATA_FORMAT.read_text(encoding="utf-8")
    objects = _schema_objects()
    assert {
        "POSTS_SCHEMA",
        "FACES_SCHEMA",
        "LINEART_SCHEMA",
        "FACE_SAMPLE",
        "LINEART_SAMPLE",
        "VOCAB_FILE",
    } <= set(objects)
    for name, obj in objects.items():
        rows = _table_after(text, name)
        if isinstance(obj, pa.Schema):
            assert [r[0] for r in rows] == obj.names, f"{name}: the table's columns differ from the schema's"
            nullable = {r[0]: r[2] for r in rows}
            for field in obj:
                want = "yes" if field.nullable else "no"
                assert nullable[field.name] == want, f"{name}.{field.name}: null should say {want}"
        else:
            assert [r[0] for r in rows] == list(obj), f"{name}: the table's fields differ from the spec's"
            for r in rows:
                optional = obj[r[0]].endswith("?")
                assert ("null" in r[1]) == optional, (
                    f"{name}.{r[0]}: type should {'' if optional else 'not '}say null"
                )


def test_data_format_names_every_shard_file():
    from schemas.lineart import SAMPLE_FIELDS

    text = DATA_FORMAT.read_text(encoding="utf-8")
    for ext in ("png", "json", *SAMPLE_FIELDS):
        assert f"`<key>.{ext}`" in text, f"docs/data-format.md does not describe <key>.{ext}"


def _defaults(prog: str, sub: str) -> dict[str, object]:
    """{option: default} of a subcommand, from its click definition."""
    import typer.main

    from prep.cli import app as prep_app
    from train.cli import app as train_app

    cmd = typer.main.get_command(prep_app if prog == "prep" else train_app).commands[sub]
    return {opt: p.default for p in cmd.params for opt in p.opts}


def _same(stated: str, default: object) -> bool:
    if isinstance(default, bool) or default is None:
        return False
    if isinstance(default, (int, float)):
        try:
            return float(stated) == float(default)
        except ValueError:
            return False
    return stated == str(default)


def test_readme_defaults_are_the_real_defaults():
    """Each README sentence "Defaults: `--opt value ...`." states the defaults of the command above it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    checked = 0
    for m in re.finditer(r"^Defaults: (.*?)(?:\.\s|\Z)", readme, re.M | re.S):
        blocks = _FENCE.findall(readme[: m.start()])
        prog, sub, _ = documented_commands(f"```\n{blocks[-1]}```\n")[0]
        defaults = _defaults(prog, sub)
        for span in re.findall(r"`([^`]+)`", m.group(1)):
            for opt, value in re.findall(r"(--[\w-]+)[ \n]+([^\s-][^\s]*)", span):
                assert opt in defaults, f"README: `{prog} {sub}` has no option {opt}"
                assert _same(value, defaults[opt]), (
                    f"README says `{prog} {sub}` defaults to {opt} {value}; it is {defaults[opt]!r}"
                )
                checked += 1
    assert checked >= 20
