"""Crawl throughput: `prep crawl --concurrency K` vs a plain sequential `requests.get` loop.

Both fetch the same posts from the local sample site with added latency per request and the rate
limit lifted; the site's images are rendered beforehand so neither side pays for drawing them.
The crawler's time includes its API listing requests, journal and parquet writes; the loop's does
not. pandas/pyarrow are imported before timing (a one-off start-up cost of ~1 s, not throughput).

    .venv/bin/python bench/bench_crawl.py [--posts 120] [--latency 0.05] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawl.crawler import CrawlConfig, Crawler
from crawl.http import HttpConfig
from crawl.sample_site import SampleSite, SiteConfig

TAG = "simple_background"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=120)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    args = ap.parse_args()
    import pandas  # noqa: F401  (imported by the manifest writer; keep its start-up cost out)
    import pyarrow.parquet  # noqa: F401

    cfg = SiteConfig(n_posts=args.posts, latency_s=args.latency, image_size=(args.size, args.size))
    with SampleSite(cfg) as site:
        for pid in site.post_ids:  # render everything first
            site.original_bytes(pid)
        urls = [site.post_meta(pid)["file_url"] for pid in site.post_ids]

        t0 = time.perf_counter()
        total = 0
        for url in urls:
            r = requests.get(url, timeout=30)
            r.raise_for_status()
            total += len(r.content)
        seq = time.perf_counter() - t0

        with tempfile.TemporaryDirectory() as tmp:
            crawl_cfg = CrawlConfig(
                api_url=site.url,
                tags=[TAG],
                out=Path(tmp) / "raw",
                concurrency=args.concurrency,
                progress=False,
                http=HttpConfig(rate=0, pool_size=args.concurrency + 2),
            )
            site.reset_log()
            t0 = time.perf_counter()
            stats = Crawler(crawl_cfg).run()
            par = time.perf_counter() - t0
            images = [r.time for r in site.requests if r.path.startswith("/images/")]
        assert stats["ok"] == args.posts, stats

    n = args.posts
    print(f"posts={n} latency={args.latency * 1000:.0f}ms image={args.size}px bytes={total}")
    print(f"sequential requests.get loop: {seq:.2f} s  {n / seq:.1f} posts/s")
    print(f"prep crawl --concurrency {args.concurrency} --rate 0: {par:.2f} s  {n / par:.1f} posts/s")
    print(f"speed-up: {seq / par:.1f}x (target >= 5x)")
    print(f"  (crawler's image requests alone spanned {images[-1] - images[0]:.2f} s)")


if __name__ == "__main__":
    main()
