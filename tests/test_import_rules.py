"""The package rules of docs/overview.md ("How the packages depend on each other"), checked on every
import statement of the project's code, including the ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "schemas", "crawl", "prep", "train")
# What each package may import of the project besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "schemas": set(),
    "crawl": {"core", "schemas"},
    "prep": {"core", "schemas", "crawl"},
    "train": {"core", "schemas"},
}


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level project package) of every absolute import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in PACKAGES]
    return found


def violations() -> list[str]:
    bad = []
    for pkg, allowed in ALLOWED.items():
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for line, target in project_imports(path):
                if target != pkg and target not in allowed:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return bad


def test_packages_import_only_what_the_rules_allow():
    assert violations() == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from prep.faces import run_faces\n    import train.cli\n")
    assert project_imports(f) == [(2, "prep"), (3, "train")]


def test_every_package_is_covered_and_documented():
    text = (ROOT / "docs" / "overview.md").read_text(encoding="utf-8")
    assert "## How the packages depend on each other" in text
    for pkg in PACKAGES:
        assert (ROOT / pkg / "__init__.py").is_file()
        assert f"`{pkg}/`" in text
