"""Crawl throughput: `prep crawl --concurrency K` vs a plain sequential `requests.get` loop, and the
cost of the integrity check (every download decoded before it is kept), measured by crawling the same
posts with the check on and off, alternately, in the same run.

All fetch the same posts from the local sample site, run in a process of its own (as a real site
is on another machine), with added latency per request and the rate limit lifted; the site renders
its images before timing so no side pays for drawing them. The crawler's time includes its API
listing requests, journal and parquet writes; the loop's does not. pandas/pyarrow/Pillow are
imported before timing (a one-off start-up cost of ~1 s, not throughput). CPU figures are this
process's (the crawler's) user + system time.

    .venv/bin/python bench/bench_crawl.py [--posts 120] [--latency 0.05] [--concurrency 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawl.crawler import CrawlConfig, Crawler
from crawl.http import HttpConfig
from crawl.sample_site import SampleSite, SiteConfig

TAG = "simple_background"


def serve(cfg: SiteConfig, conn: Connection) -> None:
    """The site's process: render everything, say where it listens, answer "span" until "stop"."""
    site = SampleSite(cfg)
    url = site.start()
    for pid in site.post_ids:
        site.original_bytes(pid)
    conn.send((url, [site.post_meta(pid)["file_url"] for pid in site.post_ids]))
    while (msg := conn.recv()) != "stop":
        if msg == "reset":
            site.reset_log()
            conn.send(None)
        else:  # "span": how long the image requests since the last reset took
            times = [r.time for r in site.requests if r.path.startswith("/images/")]
            conn.send(times[-1] - times[0])
    site.stop()


def crawl_once(url: str, concurrency: int, check: bool, n: int) -> tuple[float, float]:
    """Wall and CPU seconds of one whole crawl into a fresh folder."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = CrawlConfig(
            api_url=url,
            tags=[TAG],
            out=Path(tmp) / "raw",
            concurrency=concurrency,
            progress=False,
            check_images=check,
            http=HttpConfig(rate=0, pool_size=concurrency + 2),
        )
        t0, c0 = time.perf_counter(), time.process_time()
        stats = Crawler(cfg).run()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert stats["ok"] == n, stats
    return elapsed, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=120)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    ap.add_argument("--repeats", type=int, default=5, help="crawls with and without the check, alternating")
    args = ap.parse_args()
    import pandas  # noqa: F401  (imported by the manifest writer; keep its start-up cost out)
    import PIL.Image  # noqa: F401  (the check's decoder, likewise)
    import pyarrow.parquet  # noqa: F401

    n = args.posts
    cfg = SiteConfig(n_posts=n, latency_s=args.latency, image_size=(args.size, args.size))
    ours, theirs = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(cfg, theirs), daemon=True)
    server.start()
    try:
        url, urls = ours.recv()
        t0 = time.perf_counter()
        total = 0
        for file_url in urls:
            r = requests.get(file_url, timeout=30)
            r.raise_for_status()
            total += len(r.content)
        seq = time.perf_counter() - t0

        times: dict[bool, list[float]] = {True: [], False: []}
        cpus: dict[bool, list[float]] = {True: [], False: []}
        spans: list[float] = []
        for i in range(args.repeats):
            for check in (True, False) if i % 2 == 0 else (False, True):
                ours.send("reset")
                ours.recv()
                elapsed, cpu = crawl_once(url, args.concurrency, check, n)
                times[check].append(elapsed)
                cpus[check].append(cpu)
                if check:
                    ours.send("span")
                    spans.append(ours.recv())
    finally:
        ours.send("stop")
        server.join(timeout=10)

    par = statistics.median(times[True])
    print(f"posts={n} latency={args.latency * 1000:.0f}ms image={args.size}px bytes={total}")
    print(f"sequential requests.get loop: {seq:.2f} s  {n / seq:.1f} posts/s")
    print(
        f"prep crawl --concurrency {args.concurrency} --rate 0 (median of {args.repeats}): "
        f"{par:.2f} s  {n / par:.1f} posts/s"
    )
    print(f"speed-up: {seq / par:.1f}x (target >= 5x)")
    print(f"  (crawler's image requests alone spanned {statistics.median(spans):.2f} s)")
    print("integrity check (decode every download), crawls alternating with and without it:")
    for check in (False, True):
        runs = " ".join(f"{t:.2f}" for t in times[check])
        med = statistics.median(times[check])
        cpu = statistics.median(cpus[check]) / n * 1000
        best = min(times[check])
        print(
            f"  check {'on ' if check else 'off'}: median {med:.2f} s ({n / med:.1f} posts/s), best {best:.2f} s "
            f"({n / best:.1f} posts/s), crawler CPU {cpu:.2f} ms/post  (runs: {runs})"
        )
    off, on = statistics.median(times[False]), statistics.median(times[True])
    best = min(times[False]) / min(times[True])
    print(
        f"  throughput with the check: {100 * off / on:.1f}% of without by medians, {100 * best:.1f}% by bests"
    )
    print("  (target >= 95%)")


if __name__ == "__main__":
    main()
