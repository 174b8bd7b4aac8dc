"""Nothing wrong is recorded as right: corrupt bodies, wrong API md5s, and resume after two kill -9s.

All over real HTTP to the sample site; the kills are real SIGKILLs of a `prep crawl` process.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pandas as pd
import pytest

from core.images import load_image
from crawl.crawler import CrawlConfig, Crawler
from crawl.http import HttpConfig
from crawl.integrity import decode_problem
from crawl.sample_site import Faults, SampleSite, SiteConfig
from tests.conftest import ROOT, run_cli
from tests.test_crawl import FAST, TAG, check_store, manifest


def crawl(site: SampleSite, out: Path, **kw) -> dict:
    http = HttpConfig(rate=0, backoff=0.01, timeout=5)
    cfg = CrawlConfig(api_url=site.url, tags=[TAG], out=out, progress=False, http=http, **kw)
    return Crawler(cfg).run()


def forget_records(out: Path) -> None:
    """The manifest, journal and paging state gone: the images are all that is left of a crawl."""
    for name in ("posts.parquet", "posts.journal.jsonl", "crawl_state.json"):
        (out / name).unlink(missing_ok=True)


def by_format(site: SampleSite) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {"jpg": [], "png": []}
    for i in site.post_ids:
        ids["jpg" if site.original_bytes(i).startswith(b"\xff\xd8\xff") else "png"].append(i)
    return ids


def test_corrupt_bodies_are_never_ok_and_wrong_api_md5s_are_recorded(tmp_path: Path) -> None:
    cfg = SiteConfig(n_posts=24, image_size=(64, 48))
    with SampleSite(cfg) as probe:
        fmt = by_format(probe)
    bad_jpg, bad_png, wrong = fmt["jpg"][0], fmt["png"][0], fmt["png"][1]
    cfg.faults = Faults(corrupt_posts=frozenset({bad_jpg, bad_png}), wrong_md5_posts=frozenset({wrong}))
    out = tmp_path / "raw"
    with SampleSite(cfg) as site:
        stats = crawl(site, out, concurrency=3)
        df = manifest(out).set_index("id")
        requests_per_post = site.image_requests_by_post()
        for pid in (bad_jpg, bad_png):
            row = df.loc[pid]
            assert row.status == "corrupt" and pd.isna(row.path) and "does not decode" in row.error
            assert requests_per_post[pid] == 2  # retried once, then given up
            assert not list(out.glob(f"images/*/{pid}.*"))
        assert stats["failures"] == {"corrupt": 2} and stats["ok"] == 22
        # decodes but the API's md5 is wrong: kept, and the manifest says so
        row = df.loc[wrong]
        assert row.status == "ok" and not row.md5_match and row.md5_match is not None
        assert (out / row.path).read_bytes() == site.original_bytes(wrong) and row.md5 != row.file_md5
        assert stats["md5_mismatch"] == 1
        ok = df[df.status == "ok"].drop(index=wrong)
        assert ok.md5_match.astype(bool).all() and (ok.md5 == ok.file_md5).all()
        for path in df[df.status == "ok"].path:
            load_image(out / path)  # every stored file decodes

        # the site fixes one file: --retry-failed fetches it again and it is ok
        site.config.faults = Faults(corrupt_posts=frozenset({bad_png}))
        site.reset_log()
        stats = crawl(site, out, retry_failed=True)
        assert site.image_requests_by_post() == {bad_jpg: 1, bad_png: 2}
        assert stats["ok"] == 1 and stats["failures"] == {"corrupt": 1}

    # a transient corrupt body (a cache hiccup): the retry gets the file
    with SampleSite(SiteConfig(n_posts=24, image_size=(64, 48), faults=Faults(rate_corrupt=0.5))) as site:
        stats = crawl(site, tmp_path / "transient", concurrency=3)
        counts = site.image_requests_by_post()
        assert stats["ok"] == 24 and 0 < sum(c == 2 for c in counts.values()) < 24
        check_store(tmp_path / "transient", site)


def test_without_the_check_a_corrupt_body_would_be_ok(tmp_path: Path) -> None:
    """The decode check is what catches it: the body sniffs as an image and arrives whole."""
    with SampleSite(SiteConfig(n_posts=3, image_size=(64, 48))) as probe:
        bad = by_format(probe)["png"][0]
    faults = Faults(corrupt_posts=frozenset({bad}))
    with SampleSite(SiteConfig(n_posts=3, image_size=(64, 48), faults=faults)) as site:
        crawl(site, tmp_path / "raw", check_images=False)
        row = manifest(tmp_path / "raw").set_index("id").loc[bad]
        assert row.status == "ok" and not row.md5_match and row.md5_match is not None
        assert decode_problem(tmp_path / "raw" / row.path, "png") is not None


def test_a_stored_file_is_adopted_only_when_it_decodes_and_matches_the_api(tmp_path: Path) -> None:
    with SampleSite(SiteConfig(n_posts=4, image_size=(48, 48))) as site:
        out = tmp_path / "raw"
        crawl(site, out)
        df = manifest(out).set_index("id")
        good, broken, other = site.post_ids[:3]
        # what a kill after the renames and before the journal lines leaves, three ways
        forget_records(out)
        data = (out / df.loc[broken, "path"]).read_bytes()
        (out / df.loc[broken, "path"]).write_bytes(data[:8] + bytes(len(data) - 8))
        (out / df.loc[other, "path"]).write_bytes((out / df.loc[site.post_ids[3], "path"]).read_bytes())
        site.reset_log()
        crawl(site, out)
        assert set(site.image_requests_by_post()) == {broken, other}  # the others adopted, not fetched
        assert good not in site.image_requests_by_post()
        check_store(out, site)


def test_help_describes_the_integrity_statuses() -> None:
    res = run_cli("prep", "crawl", "--help", env={"COLUMNS": "200"})
    text = " ".join(res.stdout.split())
    assert res.returncode == 0 and "corrupt" in text and "md5_match" in text


def _kill_when(proc: subprocess.Popen, site: SampleSite, n_images: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(site.image_requests_by_post().values()) >= n_images:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the crawl finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_two_sigkills_then_resume_download_at_most_concurrency_per_kill_again(tmp_path: Path) -> None:
    concurrency = 4
    out = tmp_path / "raw"
    with SampleSite(SiteConfig(n_posts=200, image_size=(48, 48), latency_s=0.02)) as site:
        args = ["prep", "crawl", "--tags", TAG, "--out", str(out), "--api-url", site.url]
        cmd = [sys.executable, "-m", *args, *FAST, "--concurrency", str(concurrency)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for kill_at in (60, 130):
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            _kill_when(proc, site, kill_at)
            time.sleep(0.3)  # let the server log the requests the killed client left in flight
        res = run_cli(*args, *FAST, "--concurrency", str(concurrency))
        assert res.returncode == 0, res.stderr
        df = check_store(out, site)
        assert sorted(df.id) == site.post_ids and set(df.status) == {"ok"}
        counts = site.image_requests_by_post()
        assert set(counts) == set(site.post_ids)
        repeats = sum(c - 1 for c in counts.values())
        assert repeats <= 2 * concurrency, counts
        stats = json.loads((out / "_stats.json").read_text())
        assert stats["manifest_ok"] == 200


def test_fetched_files_know_whether_they_were_downloaded(tmp_path: Path) -> None:
    """The `bytes` statistic counts downloads only, not files adopted from the store."""
    with SampleSite(SiteConfig(n_posts=3, image_size=(32, 32))) as site:
        first = crawl(site, tmp_path / "raw")
        total = sum(len(site.original_bytes(i)) for i in site.post_ids)
        assert first["bytes"] == total
        forget_records(tmp_path / "raw")
        again = crawl(site, tmp_path / "raw")
        assert (
            again["bytes"] == 0
            and again["ok"] == 3
            and site.image_requests_by_post() == {i: 1 for i in site.post_ids}
        )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(w: int, h: int, raw: bytes, interlace: int = 0, extra: bytes = b"") -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, interlace))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def test_the_check_reads_every_byte_of_png_and_jpeg() -> None:
    import cv2
    import numpy as np

    w, h = 13, 11
    plain = _png(w, h, (b"\x00" + bytes(3 * w)) * h)
    adam7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw7 = b"".join(
        (b"\x00" + bytes(3 * ((w - x + dx - 1) // dx))) * ((h - y + dy - 1) // dy) for x, y, dx, dy in adam7
    )
    broken_text = _chunk(b"tEXt", b"a\x00b")[:-1] + b"\x00"  # an ancillary chunk with a bad CRC: skipped
    for good in (
        plain,
        _png(w, h, raw7, interlace=1),
        _png(w, h, (b"\x00" + bytes(3 * w)) * h, extra=broken_text),
    ):
        assert cv2.imdecode(np.frombuffer(good, np.uint8), cv2.IMREAD_UNCHANGED).shape == (h, w, 3)
        assert decode_problem(good, "png") is None
    short_rows = _png(w, h, (b"\x00" + bytes(3 * w)) * (h - 1))
    flipped = bytearray(plain)
    flipped[plain.index(b"IDAT") + 6] ^= 0x10
    for bad, why in (
        (short_rows, "inflates to"),
        (bytes(flipped), "fails its CRC"),
        (plain[:-12], "no IEND"),
    ):
        assert why in (decode_problem(bad, "png") or ""), decode_problem(bad, "png")

    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur((rng.random((96, 128, 3)) * 255).astype(np.uint8), (9, 9), 3)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    assert decode_problem(jpeg, "jpg") is None
    sos = jpeg.index(b"\xff\xda") + 20
    garbage = jpeg[:sos] + bytes(rng.integers(0, 256, len(jpeg) - sos - 2, dtype=np.uint8)) + jpeg[-2:]
    # OpenCV fills a broken scan with grey and says nothing; the check does not let it through
    assert cv2.imdecode(np.frombuffer(garbage, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None
    assert decode_problem(garbage, "jpg") is not None
