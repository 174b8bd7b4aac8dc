"""pix2pix training speed: images/s at 96 and 256 px, ours vs a classic pix2pix configuration.

    .venv/bin/python bench/bench_pix2pix.py [--sizes 96 256] [--steps 20] [--batch 16] [--threads 0]

Ours: the line-art shards decoded once into device memory (`MemoryBatches`), augmentation and hints
on the device, one D forward on [real; fake], bf16 on CUDA (fp32 on CPU), batch `--batch`.
Classic (pytorch-CycleGAN-and-pix2pix defaults): fp32, batch 1, a per-epoch torch DataLoader that
decodes the PNG pairs with PIL in workers. Both use the same U-Net and PatchGAN. On CUDA the
data-wait share is measured (time blocked on the next batch / wall time). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_shards(folder: Path, n: int, size: int) -> None:
    from tests.test_pix2pix import make_lineart_shards

    make_lineart_shards(folder, n_posts=n // 2, size=size, per_shard=200)


class PILPairs(torch.utils.data.Dataset):
    """The classic aligned dataset: PIL decoding of (line, colour) pairs, to tensors in [-1, 1]."""

    def __init__(self, folder: Path) -> None:
        from core.shards import iter_samples

        self.items = []
        for tar in sorted(folder.glob("*.tar")):
            for _, files in iter_samples(tar):
                self.items.append((files["line.png"], files["color.png"], files.get("tags.npy")))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import io

        from PIL import Image

        line, colour, tags = self.items[i]
        a = np.asarray(Image.open(io.BytesIO(line)).convert("L"), np.float32)[None] / 127.5 - 1
        b = (
            np.asarray(Image.open(io.BytesIO(colour)).convert("RGB"), np.float32).transpose(2, 0, 1) / 127.5
            - 1
        )
        t = np.load(io.BytesIO(tags)).astype(np.float32)
        return torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(t)


def run_ours(folder: Path, size: int, batch: int, steps: int, device: str, precision: str) -> dict:
    from train.conditioning import prepare
    from train.loader import MemoryBatches, load_into_memory, open_shards
    from train.pix2pix import Nets, Pix2PixOptions, build_models, prep_of, step_generator, train_step

    o = Pix2PixOptions(size=size, tags_mode="plane", batch=batch)
    opts = o.__dict__
    src = open_shards(folder, fields=("color.png", "line.png", "tags.npy"))
    data = load_into_memory(src, device=device, progress=False)
    g, d = build_models(opts, data["tags.npy"].shape[1])
    g.to(device), d.to(device)
    nets = Nets(g, d, d, g, d, torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),
                torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999)))  # fmt: skip
    batches = iter(MemoryBatches(data, batch, 0, fields=("color.png", "line.png", "tags.npy")))
    prep = prep_of(opts)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    wait = 0.0
    for k in range(steps + 3):
        if k == 3:
            sync()
            t0, wait = time.perf_counter(), 0.0
        tw = time.perf_counter()
        b = next(batches)
        wait += time.perf_counter() - tw
        gen = step_generator(0, k, 0, device)
        cond, target, _, _ = prepare(b["color.png"], b["line.png"], b["tags.npy"], prep, gen, True)
        train_step(nets, cond, target, b["tags.npy"], 100.0, device, precision)
    sync()
    dt = time.perf_counter() - t0
    return {"img_per_s": steps * batch / dt, "data_wait": wait / dt}


def run_classic(folder: Path, size: int, steps: int, device: str, workers: int) -> dict:
    from train.conditioning import build_condition
    from train.hints import no_hints
    from train.pix2pix import Nets, Pix2PixOptions, build_models, train_step

    o = Pix2PixOptions(size=size, tags_mode="plane", batch=1, hints=False)
    ds = PILPairs(folder)
    g, d = build_models(o.__dict__, ds[0][2].shape[0])
    g.to(device), d.to(device)
    nets = Nets(g, d, d, g, d, torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),
                torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999)))  # fmt: skip
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    done, wait, t0 = -3, 0.0, 0.0
    while done < steps:
        loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=True, num_workers=workers)  # per epoch
        it = iter(loader)
        while done < steps:
            if done == 0:
                sync()
                t0, wait = time.perf_counter(), 0.0
            tw = time.perf_counter()
            try:
                a, b, t = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - tw
            a, b, t = a.to(device), b.to(device), t.to(device)
            cond = build_condition(a, *no_hints(b), t, "plane")
            train_step(nets, cond, b, t, 100.0, device, "fp32")
            done += 1
    sync()
    dt = time.perf_counter() - t0
    return {"img_per_s": steps / dt, "data_wait": wait / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 256])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=0, help="0: 64 on CUDA, 16 on CPU")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the classic baseline")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = "bf16" if device == "cuda" else "fp32"
    batch = args.batch or (64 if device == "cuda" else 16)
    machine = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "lineart"
            make_shards(folder, args.samples, size)
            ours = run_ours(folder, size, batch, args.steps, device, precision)
            classic = run_classic(folder, size, max(args.steps, 10), device, args.workers)
        rows.append({"size": size, "ours": ours, "classic": classic})
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"\nMachine: {machine}; torch {torch.__version__}; ours: batch {batch}, {precision}, data in memory; "
          "classic: batch 1, fp32, per-epoch DataLoader + PIL\n")  # fmt: skip
    print("| size | ours img/s | ours data wait | classic img/s | classic data wait | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, c = r["ours"], r["classic"]
        print(f"| {r['size']} | {o['img_per_s']:.1f} | {100 * o['data_wait']:.1f}% | {c['img_per_s']:.1f} | "
              f"{100 * c['data_wait']:.1f}% | {o['img_per_s'] / c['img_per_s']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
