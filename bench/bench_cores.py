"""How much a second process can add on this machine: the ceiling for worker-scaling targets.

Runs the same CPU-bound OpenCV work (the bare face-detection loop of bench_faces.py: grey,
equalise, detectMultiScale at full resolution on synthetic 1000x750 pages) in 1 process and in
2 independent processes at once, and reports the aggregate throughput ratio. A `prep` stage
cannot scale better with 2 workers than this ratio.

    .venv/bin/python bench/bench_cores.py [--n 40] [--cascade PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import cv2


def _work(args: tuple[str, int, int]) -> float:
    cascade_path, n, seed = args
    from crawl.synthetic import make_illustration

    cv2.setNumThreads(1)
    cascade = cv2.CascadeClassifier(cascade_path)
    pages = [make_illustration(1000 + seed * n + i, 0, size=(1000, 750)).image for i in range(n)]
    t0 = time.perf_counter()
    for rgb in pages:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        cascade.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))
    return time.perf_counter() - t0


def main() -> None:
    from prep.cascade import resolve_cascade

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="pages per process")
    ap.add_argument("--cascade", default=None)
    a = ap.parse_args()
    cascade = str(resolve_cascade(a.cascade))
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        one = pool.map(_work, [(cascade, a.n, 0)])[0]
    with ctx.Pool(2) as pool:
        two = max(pool.map(_work, [(cascade, a.n, 0), (cascade, a.n, 1)]))
    rate1, rate2 = a.n / one, 2 * a.n / two
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"1 process: {rate1:.1f} pages/s; 2 processes at once: {rate2:.1f} pages/s in all")
    print(f"ceiling for 2 workers vs 1: {rate2 / rate1:.2f}x")


if __name__ == "__main__":
    main()
