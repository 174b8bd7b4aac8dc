"""`prep report`: a self-contained HTML page about a real (small) built dataset, opened in Chromium."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crawl.synthetic import write_raw_store
from prep.report import build_report
from prep.tags import run_tags
from schemas.crawl import POSTS_SCHEMA
from tests.conftest import run_cli

SECTIONS = (
    "summary",
    "rejections",
    "tags",
    "face-sizes",
    "resolutions",
    "faces",
    "lineart",
    "rejected",
    "params",
)
JUNK = {
    "html.jpg": b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>",
    "empty.png": b"",
    "cut.png": None,  # the first 300 bytes of a real PNG
}


def build_raw(raw: Path, n: int = 24) -> None:
    """A synthetic crawl plus what real crawls hold: junk files stored as images, a 404, a filtered post."""
    write_raw_store(raw, n, seed=3, size=(240, 200))
    rows = pq.read_table(raw / "posts.parquet").to_pylist()
    base = dict(rows[0])
    (raw / "images" / "999").mkdir(parents=True, exist_ok=True)
    for i, (name, data) in enumerate(JUNK.items()):
        data = (raw / rows[1]["path"]).read_bytes()[:300] if data is None else data
        (raw / "images" / "999" / name).write_bytes(data)
        rows.append({**base, "id": 5000 + i, "path": f"images/999/{name}", "file_size": len(data)})
    gone = {"path": None, "file_md5": None, "file_size": None}
    rows.append({**base, **gone, "id": 6000, "status": "http_404", "error": "GET /images/x.png: 404"})
    rows.append({**base, **gone, "id": 6001, "status": "filtered", "error": "min_side"})
    pq.write_table(pa.Table.from_pylist(rows, schema=POSTS_SCHEMA), raw / "posts.parquet")


@pytest.fixture(scope="module")
def raw_tags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with raw/ and tags/ only."""
    root = tmp_path_factory.mktemp("rawtags") / "data"
    build_raw(root / "raw")
    run_tags(root / "raw", root / "tags", top=100, min_count=1, exclude_meta=True)
    return root


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, cascade_path: Path) -> Path:
    """A data root with every stage: raw, tags, faces (real cascade) and line art."""
    from prep.canny import run_canny
    from prep.faces import FaceOptions, run_faces

    root = tmp_path_factory.mktemp("full") / "data"
    build_raw(root / "raw")
    run_tags(root / "raw", root / "tags", top=100, min_count=1, exclude_meta=True)
    opts = FaceOptions(size=48, min_face=40)
    stats = run_faces(root / "raw", root / "faces", opts, cascade=cascade_path, workers=1, shard_size=10)
    assert stats["faces_kept"] > 8 and stats["rejected_by_reason"].get("no_face")
    run_canny(root / "faces", root / "lineart", root / "tags", workers=1)
    return root


class _Refs(HTMLParser):
    """Every resource reference (src/href/srcset/style url()) and element name on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.refs: list[str] = []
        self.tags: set[str] = set()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href", "srcset", "poster", "data", "action") and value is not None:
                self.refs.append(value)
                if tag == "img" and name == "src":
                    self.imgs.append(value)


def parse(page: str) -> _Refs:
    refs = _Refs()
    refs.feed(page)
    return refs


def check_self_contained(page: str) -> _Refs:
    """No script, stylesheet link, frame or external reference; every image an inline PNG that decodes."""
    refs = parse(page)
    assert not refs.tags & {"script", "link", "iframe", "object", "embed", "base"}, refs.tags
    assert not re.search(r"url\(|@import", page), "CSS must not load anything"
    for ref in refs.refs:
        assert ref.startswith(("data:image/png;base64,", "#")), ref[:80]
    for src in refs.imgs:
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and min(img.shape[:2]) >= 8
    assert list(SECTIONS) == [i for i in refs.ids if i in SECTIONS]
    return refs


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):  # .ci/run installs it: a skip there would hide a broken set-up
            pytest.fail("no chromium binary in CI: .ci/run should have installed Debian's chromium")
        pytest.skip("no chromium binary (Debian: apt-get install chromium); CI installs it")
    return found


def browser(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


# Appended to a copy of the page (the report itself has no script): once everything has loaded,
# the title says how many of the report's images decoded, and what a known-broken probe image gives.
PROBE = (
    '<img id="probe-broken" alt="" src="data:image/png;base64,AAAA"><script>'
    'window.addEventListener("load",function(){var a=[].slice.call(document.images).filter('
    'function(i){return i.id!=="probe-broken"});var ok=a.filter(function(i){return i.complete&&'
    'i.naturalWidth>0}).length;document.title="loaded "+ok+"/"+a.length+" probe "+'
    'document.getElementById("probe-broken").naturalWidth;});</script>'
)


def test_full_report_renders_in_chromium(full: Path, tmp_path: Path) -> None:
    exe = chromium()
    out = tmp_path / "site" / "report.html"
    res = run_cli("prep", "report", str(full), "--out", str(out), "--seed", "1")
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert line.startswith(f"report: out={out} ") and "sections=9" in line and "missing=-" in line
    page = out.read_text(encoding="utf-8")
    refs = check_self_contained(page)
    # 4 charts, 2 contact sheets and thumbnails of the sources the cascade found no face in
    assert len(refs.imgs) >= 7
    assert f"images={len(refs.imgs)}" in line
    for text in ("no_face", "not_image", "empty", "http_404", "filtered", "HTML document", "line | colour"):
        assert text in page, text
    assert "options.min_face" in page and "simple_background" in page

    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = browser(exe, tmp_path / "profile", "--dump-dom", probe.as_uri())
    title = re.search(r"<title>([^<]*)</title>", dom.stdout)
    assert title is not None, dom.stderr[-2000:]
    assert title.group(1) == f"loaded {len(refs.imgs)}/{len(refs.imgs)} probe 0", title.group(1)

    shot = tmp_path / "shot.png"
    browser(exe, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,5000", out.as_uri())
    img = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[:2] == (5000, 1280)
    # charts and the coloured contact sheets: far from a blank or all-text page
    colours = np.unique(img.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 2000 and img.std() > 20


def test_raw_and_tags_only(raw_tags: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.html"
    rep = build_report(raw_tags, out, seed=0)
    page = out.read_text(encoding="utf-8")
    check_self_contained(page)
    assert rep.present == ["raw", "tags"] and rep.missing == ["faces", "lineart"]
    # the missing stages are named with the command that builds them
    assert f"prep faces --src {raw_tags}/raw --out {raw_tags}/faces" in page
    assert "prep canny --src" in page
    # rejection chart, tag chart, resolution chart, and no thumbnails: the junk does not decode
    assert rep.images == 3
    for text in ("http_404", "filtered", "27 images stored", "simple_background"):
        assert text in page, text
    # same inputs, same page
    build_report(raw_tags, tmp_path / "b.html", seed=0)
    assert (tmp_path / "b.html").read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_stage_is_reported_not_fatal(raw_tags: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(raw_tags, root)
    (root / "faces").mkdir()
    (root / "faces" / "faces.parquet").write_bytes(b"PAR1 not really")
    (root / "lineart").mkdir()  # an interrupted run: folder, no manifest
    res = run_cli("prep", "report", str(root))
    assert res.returncode == 0, res.stderr
    page = (root / "report.html").read_text(encoding="utf-8")
    assert f"{root}/faces/faces.parquet: unreadable" in page
    assert f"{root}/lineart: exists but holds no lineart.parquet" in page
    assert "missing=faces,lineart" in res.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["{tmp}/nowhere"], "{tmp}/nowhere: no such folder; give the data root"),
        (["{tmp}/empty"], "{tmp}/empty: no dataset there"),
        (["{tmp}/empty/file.txt"], "not a folder"),
        (["{data}", "--out", "{tmp}/r.pdf"], "--out {tmp}/r.pdf: the report is an HTML page"),
        (["{data}", "--out", "{tmp}"], "is a folder"),
        (["{data}", "--faces", "-1"], "--faces -1"),
    ],
)
def test_bad_input(raw_tags: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "file.txt").write_text("x")
    (tmp_path / "empty" / "raw").mkdir()  # a stage folder without its manifest is still nothing
    fill = {"tmp": str(tmp_path), "data": str(raw_tags)}
    res = run_cli("prep", "report", *(a.format(**fill) for a in args))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prep: error: "), res.stderr
    assert expected.format(**fill) in lines[0]
    if "no dataset there" in expected:
        assert "prep repro" in lines[0] and "prep crawl --out" in lines[0]
    assert not (tmp_path / "r.pdf").exists()
