"""Resume after kill -9: how many images a crawl downloads twice when killed twice mid-run, then finished.

A `prep crawl --concurrency K` process against the local sample site is SIGKILLed once the site
has served 30% of the images, started again and SIGKILLed at 65%, then run to the end. The site
counts the requests for each post's image; a repeat is any request after a post's first. At most
K downloads can be in flight when a kill lands, so a correct resume repeats at most 2 x K.

    .venv/bin/python bench/bench_resume.py [--posts 200] [--concurrency 4] [--trials 3] [--size 128]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawl.sample_site import SampleSite, SiteConfig  # noqa: E402

TAG = "simple_background"
FAST = ["--rate", "0", "--retry-backoff", "0.01", "--timeout", "10", "--no-progress"]


def served(site: SampleSite) -> int:
    return sum(site.image_requests_by_post().values())


def one_trial(posts: int, concurrency: int, size: int, latency: float, page: int) -> tuple[int, int, float]:
    """(repeated downloads, posts stored, seconds) for one kill-kill-finish run."""
    cfg = SiteConfig(n_posts=posts, image_size=(size, size), latency_s=latency)
    with SampleSite(cfg) as site, tempfile.TemporaryDirectory() as tmp:
        for pid in site.post_ids:  # render everything first: the server's drawing is not the point
            site.original_bytes(pid)
        out = Path(tmp) / "raw"
        args = [
            "prep",
            "crawl",
            "--tags",
            TAG,
            "--out",
            str(out),
            "--api-url",
            site.url,
            "--page-size",
            str(page),
        ]
        cmd = [sys.executable, "-m", *args, *FAST, "--concurrency", str(concurrency)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        for share in (0.30, 0.65):
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            while proc.poll() is None and served(site) < share * posts:
                time.sleep(0.002)
            if proc.poll() is not None:
                raise SystemExit("the crawl finished before it could be killed; use more --posts")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.3)  # let the server finish answering what the killed client left in flight
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - t0
        counts = site.image_requests_by_post()
        stored = sum(1 for p in (out / "images").rglob("*") if p.is_file())
        return sum(c - 1 for c in counts.values()), stored, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels")
    ap.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    ap.add_argument("--page-size", type=int, default=100, help="prep crawl --page-size")
    args = ap.parse_args()
    bound = 2 * args.concurrency
    print(
        f"posts={args.posts} concurrency={args.concurrency} page-size={args.page_size} image={args.size}px "
        f"latency={args.latency * 1000:.0f}ms"
    )
    worst = 0
    for i in range(args.trials):
        repeats, stored, elapsed = one_trial(
            args.posts, args.concurrency, args.size, args.latency, args.page_size
        )
        worst = max(worst, repeats)
        print(
            f"trial {i + 1}: {repeats} images downloaded twice after two kills, {stored} stored, {elapsed:.1f} s"
        )
    print(f"worst: {worst} repeats (bound 2 x --concurrency = {bound}): {'ok' if worst <= bound else 'OVER'}")


if __name__ == "__main__":
    main()
