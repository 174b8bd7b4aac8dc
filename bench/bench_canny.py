"""Benchmark `prep canny` against a bare loop doing the same work, per core and with workers.

Makes N face samples (FACExFACE PNG crops of synthetic illustrations) in face shards of 100 in a
temporary folder, then times:
  bare     one process: read tar, decode PNG, gray, Canny, invert, encode PNG, write tar with
           the same four fields per sample (colour PNG, line PNG, tag vector .npy, JSON)
  canny/1  prep.canny.run_canny with one worker (in-process)
  canny/2  the same with two worker processes
Each figure is the best of --repeat interleaved runs (fresh output folder each time). Target: `prep canny`
within 20% of the bare loop's images/s per core, and scaling with workers.

    .venv/bin/python bench/bench_canny.py [--n 2000] [--face 96] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from core.atomic import atomic_write_json
from core.shards import iter_samples, read_index, write_index, write_shard
from crawl.synthetic import make_illustration
from prep.canny import run_canny
from prep.tags import build_vocab


def make_faces(folder: Path, n: int, face: int, per_shard: int = 100) -> list[list[str]]:
    """Write n face samples in shards of `per_shard`; returns the tag lists used."""
    samples, tag_lists, pid = [], [], 1000
    while len(samples) < n:
        ill = make_illustration(pid, 0, size=(192, 192))
        for i, (x, y, s, _) in enumerate(ill.faces):
            m = s // 4
            crop = ill.image[max(0, y - m) : y + s + m, max(0, x - m) : x + s + m]
            crop = cv2.resize(crop, (face, face), interpolation=cv2.INTER_AREA)
            _, buf = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            meta = {"post_id": pid, "face_index": i, "tags": ill.tags, "rating": "general"}
            samples.append(
                (f"p{pid:010d}_f{i:02d}", {"png": buf.tobytes(), "json": json.dumps(meta).encode()})
            )
            tag_lists.append(ill.tags)
        pid += 1
    samples = samples[:n]
    infos = [
        write_shard(folder / f"faces-{i // per_shard:06d}.tar", samples[i : i + per_shard])
        for i in range(0, n, per_shard)
    ]
    write_index(folder, infos, name="faces")
    return tag_lists


def bare_loop(src: Path, out: Path, low: int, high: int, vocab_index: dict[str, int]) -> int:
    """The same samples without the stage around them; returns the number of images."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for info in read_index(src):
        with tarfile.open(out / info.url, "w") as dst:
            for key, files in iter_samples(src / info.url):
                bgr = cv2.imdecode(np.frombuffer(files["png"], np.uint8), cv2.IMREAD_COLOR)
                line = 255 - cv2.Canny(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), low, high)
                _, buf = cv2.imencode(".png", line, [cv2.IMWRITE_PNG_COMPRESSION, 3])
                meta = json.loads(files["json"])
                vec = np.zeros(len(vocab_index), np.uint8)
                vec[[vocab_index[t] for t in meta["tags"] if t in vocab_index]] = 1
                npy = io.BytesIO()
                np.save(npy, vec)
                out_files = {
                    "color.png": files["png"],
                    "line.png": buf.tobytes(),
                    "tags.npy": npy.getvalue(),
                    "json": json.dumps({**meta, "low": low, "high": high}).encode(),
                }
                for ext, data in out_files.items():
                    ti = tarfile.TarInfo(f"{key}.{ext}")
                    ti.size = len(data)
                    dst.addfile(ti, io.BytesIO(data))
                n += 1
    return n


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--face", type=int, default=96)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # one core per process, as in the stage's workers

    root = Path(tempfile.mkdtemp(prefix="bench_canny_"))
    try:
        t0 = time.perf_counter()
        tags = make_faces(root / "faces", args.n, args.face)
        vocab, _ = build_vocab(tags, top=1000, min_count=1)
        atomic_write_json(root / "vocab.json", vocab.to_json())
        print(f"made {args.n} {args.face}x{args.face} faces in {time.perf_counter() - t0:.1f}s")

        def fresh(name: str) -> Path:
            p = root / name
            shutil.rmtree(p, ignore_errors=True)
            return p

        runs = {
            "bare loop": (lambda: bare_loop(root / "faces", fresh("bare"), 100, 200, vocab.index), 1),
            "prep canny, 1 worker": (
                lambda: run_canny(root / "faces", fresh("c1"), root / "vocab.json", workers=1),
                1,
            ),
            "prep canny, 2 workers": (
                lambda: run_canny(root / "faces", fresh("c2"), root / "vocab.json", workers=2),
                2,
            ),
        }
        # Interleaved repeats, best of each: the machine is shared, so the minimum is the signal.
        # CPU seconds (this process + its finished worker processes) per image measure the cost
        # per core without counting the time other programs hold the cores.
        wall: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, (fn, _w) in runs.items():
                c0, t0 = _cpu_seconds(), time.perf_counter()
                fn()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(_cpu_seconds() - c0)
        base_wall = args.n / min(wall["bare loop"])
        base_cpu = args.n / min(cpu["bare loop"])
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\n{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, n={args.n}")
        print(
            "| run | wall s | images/s | images/s per core (wall) | vs bare | "
            "CPU s | images per CPU-second | vs bare |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, (_fn, w) in runs.items():
            t, c = min(wall[name]), min(cpu[name])
            ips, ipc = args.n / t, args.n / c
            # worker processes fork from a forkserver, not from this process: their CPU is not ours to read
            cpu_cols = f"{c:.2f} | {ipc:.0f} | {ipc / base_cpu:.0%}" if w == 1 else "n/a | n/a | n/a"
            print(
                f"| {name} | {t:.2f} | {ips:.0f} | {ips / w:.0f} | {ips / w / base_wall:.0%} | {cpu_cols} |"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
