"""Throughput of the shard loader against a bare tarfile + OpenCV loop.

Writes N synthetic 96x96 RGB faces (noise + shapes, PNG + JSON like `prep faces` does) into
shards in a temporary folder, then times full passes of:

  (a) bare loop: tarfile + cv2.imdecode of each png, np.stack into batches (the reference)
  (b) webdataset's default `.decode("rgb8").to_tuple("png").batched(B)`
  (c) train.loader.make_loader, workers=0 (one process: the per-worker figure)
  (d) train.loader.make_loader, workers=2
  (e) load_into_memory once, then MemoryBatches

Each figure is the best of --repeat passes (the machine may be shared). Prints a markdown table.

    .venv/bin/python bench/bench_loader.py --n 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from core.shards import write_index, write_shard
from train.loader import MemoryBatches, load_into_memory, make_loader, open_shards


def synthetic_face(rng: np.random.Generator, size: int) -> np.ndarray:
    img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    for _ in range(4):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, centre, int(rng.integers(4, size // 3)), colour, -1)
    return img


def make_shards(folder: Path, n: int, per_shard: int, size: int) -> None:
    rng = np.random.default_rng(0)
    infos = []
    for s in range(0, n, per_shard):
        samples = []
        for i in range(s, min(n, s + per_shard)):
            _ok, buf = cv2.imencode(".png", synthetic_face(rng, size))
            meta = {"post_id": i, "face_index": 0, "box": [0, 0, size, size], "tags": ["x"] * 20}
            samples.append((f"f{i:07d}", {"png": buf.tobytes(), "json": json.dumps(meta).encode()}))
        infos.append(write_shard(folder / f"faces-{s // per_shard:06d}.tar", samples))
    write_index(folder, infos, "bench")


def bare_loop(shards: list[str], batch: int) -> Iterator[torch.Tensor]:
    images: list[np.ndarray] = []
    for path in shards:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                if member.name.endswith(".png"):
                    data = tar.extractfile(member).read()
                    images.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))
                    if len(images) == batch:
                        yield torch.from_numpy(np.stack(images))
                        images = []


def webdataset_default(shards: list[str], batch: int) -> Iterator[object]:
    import webdataset as wds

    ds = (
        wds.WebDataset(shards, shardshuffle=False, empty_check=False)
        .decode("rgb8")
        .to_tuple("png")
        .batched(batch)
    )
    yield from ds


Pass = Callable[[], int]
"""Runs one full pass and returns the number of samples it yielded."""


def best_rates(passes: dict[str, Pass], n_expected: int, repeat: int) -> dict[str, float]:
    """Best samples/s of each pass over `repeat` rounds; rounds interleave the passes so that
    load from other processes hits them all alike."""
    best = dict.fromkeys(passes, 0.0)
    for _ in range(repeat):
        for name, run in passes.items():
            t0 = time.perf_counter()
            n = run()
            dt = time.perf_counter() - t0
            if n < n_expected * 0.9:
                raise RuntimeError(f"{name}: pass yielded {n} samples, expected about {n_expected}")
            best[name] = max(best[name], n / dt)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="synthetic faces")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--per-shard", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        folder = Path(tmp)
        make_shards(folder, args.n, args.per_shard, args.size)
        src = open_shards(folder)
        n, b, r = src.num_samples, args.batch, args.repeat

        loaders = {w: make_loader(src, batch_size=b, workers=w, resampled=False, seed=0) for w in (0, 2)}
        memory: dict[str, object] = {}

        def load() -> int:
            memory["data"] = load_into_memory(src, progress=False)
            return n

        def sample_memory() -> int:
            batches = MemoryBatches(memory["data"], batch_size=b, seed=0)  # type: ignore[arg-type]
            steps = 2000
            for k in range(steps):
                batches.batch(k)
            return steps * b

        passes: dict[str, Pass] = {
            "(a) bare loop: tarfile + cv2.imdecode + np.stack": lambda: sum(
                len(x) for x in bare_loop(src.shards, b)
            ),
            '(b) webdataset `.decode("rgb8")` + `.batched`': lambda: sum(
                len(x[0]) for x in webdataset_default(src.shards, b)
            ),
            "(c) make_loader, workers=0 (per worker)": lambda: sum(x["png"].shape[0] for x in loaders[0]),
            "(d) make_loader, workers=2": lambda: sum(x["png"].shape[0] for x in loaders[2]),
            "(e1) load_into_memory (decode once, workers=0)": load,
            "(e2) MemoryBatches.batch (CPU tensors)": sample_memory,
        }
        rates = best_rates(passes, n // b * b, r)
        for ld in loaders.values():
            ld.close()

    rows = list(rates.items())
    base = rows[0][1]
    print(
        f"{n} faces {args.size}x{args.size} PNG in {-(-n // args.per_shard)} shards, batch {b}, best of {r}; "
        f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), cv2 {cv2.__version__}"
    )
    print()
    print("| pipeline | samples/s | vs (a) |")
    print("|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
