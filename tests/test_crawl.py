"""`prep crawl` end to end against the local safebooru look-alike, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from crawl.crawler import CrawlConfig, Crawler
from crawl.http import HttpConfig
from crawl.sample_site import Faults, SampleSite, SiteConfig
from schemas import validate_parquet
from schemas.crawl import POSTS_SCHEMA
from tests.conftest import ROOT, run_cli

TAG = "simple_background"  # every sample-site post has it
FAST = ["--rate", "0", "--retry-backoff", "0.01", "--timeout", "5", "--no-progress"]


def crawl(site: SampleSite, out: Path, tags: str = TAG, **kw) -> dict:
    http = HttpConfig(rate=0, backoff=0.01, timeout=5)
    cfg = CrawlConfig(api_url=site.url, tags=tags.split(), out=out, progress=False, http=http, **kw)
    return Crawler(cfg).run()


def manifest(out: Path) -> pd.DataFrame:
    validate_parquet(out / "posts.parquet", POSTS_SCHEMA)
    df = pd.read_parquet(out / "posts.parquet")
    assert df["id"].is_unique
    return df


def image_requests(site: SampleSite) -> list[str]:
    return [r.path for r in site.requests if r.path.startswith(("/images/", "/samples/"))]


def post_of_path(site: SampleSite) -> dict[str, int]:
    return {urlsplit(site.post_meta(i)["file_url"]).path: i for i in site.post_ids}


def check_store(out: Path, site: SampleSite) -> pd.DataFrame:
    """Every ok row's file exists with the site's bytes; no other files; no leftovers."""
    df = manifest(out)
    assert not list(out.rglob("*.part")) and not list(out.rglob("*.tmp"))
    ok = df[df.status == "ok"]
    for row in ok.itertuples():
        data = (out / row.path).read_bytes()
        assert hashlib.md5(data).hexdigest() == row.file_md5 == row.md5  # the site's hash is the bytes' md5
        assert data == site.original_bytes(row.id)
        assert row.path == f"images/{row.id % 1000:03d}/{row.id}.{row.path.rsplit('.', 1)[1]}"
    files = {p.relative_to(out).as_posix() for p in (out / "images").rglob("*") if p.is_file()}
    assert files == set(ok.path)
    assert ok.file_md5.is_unique
    return df


def test_cli_crawls_every_fault_kind_and_reruns_incrementally(tmp_path):
    faults = Faults(
        rate_429=0.1,
        retry_after=0.05,
        rate_5xx=0.1,
        rate_drop=0.1,
        rate_truncate=0.15,
        rate_empty_page=0.5,
        html_posts=frozenset({1003}),
        offsite_posts=frozenset({1004}),
        missing_posts=frozenset({1005}),
    )
    out = tmp_path / "raw"
    with SampleSite(SiteConfig(n_posts=45, faults=faults, image_size=(64, 48), duplicate_every=9)) as site:
        args = ["prep", "crawl", "--tags", TAG, "--out", str(out), "--api-url", site.url, "--page-size", "10"]
        res = run_cli(*args, *FAST, "--concurrency", "4")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip().startswith("crawl: listed=45 ")
        statuses = {r.status for r in site.requests}
        assert {429, 0, 200, 404, 302} <= statuses and statuses & {500, 502, 503}
        df = check_store(out, site)
        assert sorted(df.id) == site.post_ids
        by_id = df.set_index("id")
        assert by_id.loc[1003, "status"] == "not_image" and "text/html" in by_id.loc[1003, "error"]
        assert by_id.loc[1004, "status"] == "redirect_offsite" and by_id.loc[1005, "status"] == "http_404"
        dups = df[df.status == "duplicate"]
        assert list(dups.id) == [1009, 1018, 1027, 1036] and list(dups.duplicate_of) == [
            1008,
            1017,
            1026,
            1035,
        ]
        assert (
            dups.path.isna().all()
            and (dups.file_md5.values == by_id.loc[dups.duplicate_of, "md5"].values).all()
        )
        assert (df[df.status == "ok"].status.count()) == 45 - 3 - 4
        row = by_id.loc[1010]
        assert (
            isinstance(row.tags, (list, type(row.tags))) and TAG in list(row.tags) and row.rating == "general"
        )
        assert not (out / "posts.journal.jsonl").read_bytes()
        stats = json.loads((out / "_stats.json").read_text())
        assert stats["stage"] == "crawl" and stats["ok"] == 38 and stats["http_retries"] > 0
        assert stats["failures"] == {"http_404": 1, "not_image": 1, "redirect_offsite": 1}

        # the same command again: nothing to download, one listing request
        site.reset_log()
        res = run_cli(*args, *FAST)
        assert res.returncode == 0, res.stderr
        assert image_requests(site) == [] and len(site.requests) == 1
        assert manifest(out).equals(df)

        # new posts: only those are fetched; the listing stops where the known range starts
        new = site.add_posts(12)
        site.reset_log()
        res = run_cli(*args, *FAST)
        assert res.returncode == 0, res.stderr
        fetched = {post_of_path(site)[p] for p in image_requests(site)}
        assert fetched == set(new) - {1045}  # 1045 repeats 1044's bytes (duplicate_every=9)
        df2 = check_store(out, site)
        assert sorted(df2.id) == site.post_ids and df2.set_index("id").loc[1045, "duplicate_of"] == 1044
        api = [r for r in site.requests if r.path == "/index.php"]
        assert len(api) <= 3  # top page (+ a retried empty page), then a jump over the covered range


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path):
    out = tmp_path / "raw"
    with SampleSite(SiteConfig(n_posts=120, image_size=(64, 64), latency_s=0.03, duplicate_every=11)) as site:
        args = ["prep", "crawl", "--tags", TAG, "--out", str(out), "--api-url", site.url, "--page-size", "20"]
        cmd = [sys.executable, "-m", *args, *FAST, "--concurrency", "2"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                stored = [p for p in out.glob("images/*/*") if p.suffix != ".part"]
                if len(stored) >= 30:
                    break
                time.sleep(0.02)
            assert proc.poll() is None, "the crawl finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        have = {int(p.stem) for p in out.glob("images/*/*") if p.suffix != ".part"}
        assert len(have) >= 30

        time.sleep(0.5)  # let the server log the requests the killed client left in flight
        site.reset_log()
        res = run_cli(*args, *FAST, "--concurrency", "2")
        assert res.returncode == 0, res.stderr
        df = check_store(out, site)
        assert sorted(df.id) == site.post_ids  # finished the job, one row per post
        assert set(df.status) == {"ok", "duplicate"}
        fetched = [post_of_path(site)[p] for p in image_requests(site)]
        assert len(fetched) == len(set(fetched))  # nothing downloaded twice
        assert not set(fetched) & have  # nothing downloaded again that the killed run had stored
        stats = json.loads((out / "_stats.json").read_text())
        assert stats["manifest_rows"] == 120


def test_keyset_paging_past_the_deep_paging_cap_and_limit(tmp_path):
    # the site refuses pid*limit > 20: plain pid paging would stop after 3 pages
    with SampleSite(SiteConfig(n_posts=70, image_size=(32, 32), faults=Faults(paging_cap=20))) as site:
        out = tmp_path / "all"
        stats = crawl(site, out, page_size=10, concurrency=3)
        assert stats["listed"] == 70 and sorted(manifest(out).id) == site.post_ids
        assert all(r.query.get("pid", "0") == "0" for r in site.requests if r.path == "/index.php")

        # --limit N: the N newest; the same command again finishes the job without re-downloading
        lim = tmp_path / "limited"
        crawl(site, lim, page_size=10, limit=25)
        assert sorted(manifest(lim).id) == site.post_ids[-25:]
        site.reset_log()
        assert crawl(site, lim, page_size=10, limit=25)["listed"] == 0 and image_requests(site) == []
        stats = crawl(site, lim, page_size=10, limit=40)
        assert stats["listed"] == 15 and len(image_requests(site)) == 15
        assert sorted(manifest(lim).id) == site.post_ids[-40:]


def test_filters_then_rerun_without_them(tmp_path):
    with SampleSite(SiteConfig(n_posts=12, image_size=(64, 48))) as site:
        out = tmp_path / "raw"
        crawl(site, out, ratings=frozenset({"safe"}))
        df = manifest(out)
        assert set(df.status) == {"filtered"} and df.error.str.contains("--rating").all()
        assert image_requests(site) == [] and not (out / "images").exists()
        crawl(site, out, min_side=50)
        assert manifest(out).error.str.contains("--min-side").all() and image_requests(site) == []
        crawl(site, out, exclude_tags=frozenset({TAG}))
        assert manifest(out).error.str.contains("excluded tags").all()
        crawl(site, out, max_bytes=64)
        df = manifest(out)
        assert set(df.status) == {"filtered"} and df.error.str.startswith("too_large").all()
        # lifting the filters downloads what they held back
        site.reset_log()
        stats = crawl(site, out)
        assert stats["ok"] == 12 and len(image_requests(site)) == 12
        assert set(check_store(out, site).status) == {"ok"}


def test_retry_failed_fetches_only_the_failures(tmp_path):
    with SampleSite(
        SiteConfig(n_posts=8, image_size=(32, 32), faults=Faults(missing_posts=frozenset({1002})))
    ) as site:
        out = tmp_path / "raw"
        crawl(site, out)
        assert manifest(out).set_index("id").loc[1002, "status"] == "http_404"
        site.config.faults = Faults()  # the file is back
        site.reset_log()
        assert crawl(site, out)["listed"] == 0  # a plain rerun does not retry failures
        stats = crawl(site, out, retry_failed=True)
        assert stats["ok"] == 1 and stats["skipped_known"] == 7 and len(image_requests(site)) == 1
        assert set(check_store(out, site).status) == {"ok"}


def test_sample_variant(tmp_path):
    with SampleSite(SiteConfig(n_posts=3, image_size=(900, 300))) as site:
        out = tmp_path / "raw"
        crawl(site, out, variant="sample")
        df = manifest(out)
        assert (df.status == "ok").all() and df.file_url.str.contains("/samples/").all()
        assert df.path.str.endswith(".jpg").all() and (df.md5 != df.file_md5).all()
        import cv2

        for p in df.path:
            assert cv2.imread(str(out / p)).shape[1] == 850


def test_recovers_from_torn_journal_part_files_and_unrecorded_files(tmp_path):
    with SampleSite(SiteConfig(n_posts=10, image_size=(32, 32))) as site:
        out = tmp_path / "raw"
        crawl(site, out, limit=4)
        ids = site.post_ids
        # what a SIGKILL can leave: a torn journal line, a .part file, a file renamed but not recorded
        with open(out / "posts.journal.jsonl", "a") as f:
            f.write('{"id": 1005, "tags": ["a"], "sta')
        part = out / "images" / "004" / "1004.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(b"half")
        unrecorded = ids[-5]
        meta = site.post_meta(unrecorded)
        ext = "png" if site.original_bytes(unrecorded).startswith(b"\x89PNG") else "jpg"
        target = out / f"images/{unrecorded % 1000:03d}/{unrecorded}.{ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(site.original_bytes(unrecorded))
        site.reset_log()
        crawl(site, out, limit=7)
        df = check_store(out, site)
        assert sorted(df.id) == ids[-7:]
        fetched = [r.path for r in site.requests if r.path.startswith("/images/")]
        assert urlsplit(meta["file_url"]).path not in fetched and len(fetched) == 2


def _one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prep: error: "), res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_input_gives_one_line_errors(tmp_path):
    import socket

    with SampleSite(SiteConfig(n_posts=2, image_size=(32, 32))) as site:
        base = ["prep", "crawl", "--out", str(tmp_path / "raw"), *FAST, "--retries", "1"]
        _one_line_error(run_cli(*base, "--tags", "  ", "--api-url", site.url), "--tags", "empty")
        # a web site that is not a booru API
        _one_line_error(
            run_cli(*base, "--tags", TAG, "--api-url", site.url + "/images"), "--api-url", "booru"
        )
        blocker = tmp_path / "file"
        blocker.write_text("x")
        res = run_cli(
            "prep", "crawl", "--tags", TAG, "--api-url", site.url, "--out", str(blocker / "raw"), *FAST
        )
        _one_line_error(res, "--out")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_cli(*base, "--tags", TAG, "--api-url", f"http://127.0.0.1:{port}")
    _one_line_error(res, "--api-url", "cannot be reached")


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"tags": "a sort:score"}, "--tags"),
        ({"tags": "a id:<5"}, "--tags"),
        ({"variant": "huge"}, "--variant"),
        ({"rating": ["general,nsfw"]}, "--rating"),
        ({"limit": 0}, "--limit"),
        ({"page_size": 5000}, "--page-size"),
        ({"concurrency": 0}, "--concurrency"),
        ({"rate": -1.0}, "--rate"),
        ({"api_url": "safebooru.org"}, "--api-url"),
    ],
)
def test_bad_options_are_refused_before_any_work(kw, needle, tmp_path):
    from core.errors import UserError
    from prep.commands.crawl import main

    args = {"tags": TAG, "out": tmp_path / "raw", "api_url": "http://127.0.0.1:9", **kw}
    with pytest.raises(UserError, match=needle):
        main(**args)
    assert not (tmp_path / "raw").exists()


def test_one_crawl_per_out_folder(tmp_path):
    from core.errors import UserError
    from crawl.store import Store

    first = Store(tmp_path)
    first.open()
    with pytest.raises(UserError, match="another prep crawl"):
        Store(tmp_path).open()
    first.close()
    second = Store(tmp_path)
    second.open()
    second.close()


def test_help_explains_every_option():
    res = run_cli("prep", "crawl", "--help", env={"COLUMNS": "200"})
    assert res.returncode == 0
    for opt in ("--tags", "--limit", "--out", "--api-url", "--rate", "--concurrency", "--variant", "--rating",
                "--min-side", "--max-bytes", "--exclude-tags", "--allow-host", "--page-size", "--retry-failed",
                "--user-agent", "--timeout", "--retries", "--retry-backoff", "--progress"):  # fmt: skip
        assert opt in res.stdout, opt
