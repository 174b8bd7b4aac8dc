"""pix2pix training speed: `train pix2pix` itself vs a classic pix2pix loop at the SAME batch size.

    .venv/bin/python bench/bench_pix2pix.py [--sizes 96 256] [--steps 10] [--batch 16] [--json out.json]

Ours: the real trainer (`train.pix2pix.train`, what `train pix2pix` runs) with its defaults for
the model and the conditioning (tag mode, simulated hints, augmentation on the device), data in
memory, bf16 on CUDA and fp32 on CPU; images/s and data-wait share from its own stats.jsonl (the
first tick is warm-up and left out).
Classic (the pytorch-CycleGAN-and-pix2pix way of training, written as a user would): fp32, a
per-epoch torch DataLoader decoding the PNG pairs with PIL in workers, the same U-Net and PatchGAN
(same tag projection), one D step on real and fake pairs, one G step with GAN + 100 x L1, Adam, at
the same batch size as ours. Ours does more per step (hint simulation, random crop/flip); the
classic loop feeds zero hint channels. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
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

    make_lineart_shards(folder, n_posts=max(1, n // 2), size=size, per_shard=200)


class PILPairs(torch.utils.data.Dataset):
    """The classic aligned dataset: PIL decoding of (line, colour, tags), to tensors in [-1, 1]."""

    def __init__(self, folder: Path) -> None:
        from core.shards import iter_samples

        self.items = []
        for tar in sorted(folder.glob("*.tar")):
            for _, files in iter_samples(tar):
                self.items.append((files["line.png"], files["color.png"], files["tags.npy"]))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from PIL import Image

        line, colour, tags = self.items[i]
        a = np.asarray(Image.open(io.BytesIO(line)).convert("L"), np.float32)[None] / 127.5 - 1
        rgb = np.asarray(Image.open(io.BytesIO(colour)).convert("RGB"), np.float32)
        b = rgb.transpose(2, 0, 1) / 127.5 - 1
        t = np.load(io.BytesIO(tags)).astype(np.float32)
        return torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(t)


def run_ours(folder: Path, size: int, batch: int, steps: int, device: str) -> dict:
    """`train pix2pix` with its defaults at `batch`: img/s and data wait from stats.jsonl."""
    from train.engine.rundir import read_stats
    from train.pix2pix import Pix2PixOptions, train

    warm = max(2, steps // 5)
    with tempfile.TemporaryDirectory() as tmp:
        o = Pix2PixOptions(
            shards=str(folder), out=tmp, size=size, batch=batch, steps=steps + warm, data="memory",
            device=device, precision="bf16" if device == "cuda" else "fp32", progress=False, workers=0,
            val_fraction=0.0, val_kimg=1e9, snap_kimg=1e9, tick_kimg=batch * warm / 1000,
        )  # fmt: skip
        train(o)
        recs = [r for r in read_stats(Path(tmp) / "stats.jsonl") if r.get("tick", 0) >= 2]
        mode = o.tags_mode
    secs = sum(r["sec_per_tick"] for r in recs)
    imgs = sum(r["img_per_s"] * r["sec_per_tick"] for r in recs)
    wait = sum(r["data_wait"] * r["sec_per_tick"] for r in recs) / max(secs, 1e-9)
    return {"img_per_s": imgs / max(secs, 1e-9), "data_wait": wait, "tags_mode": mode}


def run_classic(
    folder: Path, size: int, batch: int, steps: int, device: str, workers: int, tags_mode: str
) -> dict:
    """The classic fp32 loop at `batch` (same networks, tag input and losses, PIL DataLoader per epoch)."""
    import torch.nn.functional as F

    from train.conditioning import tag_plane
    from train.models.patchgan import PatchDiscriminator, default_layers
    from train.models.unet import UNetGenerator

    ds = PILPairs(folder)
    vocab = ds[0][2].shape[0]
    plane = tags_mode == "plane"  # the tags as one extra input plane; else a learned projection
    cin, tag_dim = (6, 0) if plane else (5, vocab)
    torch.manual_seed(0)
    g = UNetGenerator(cin, size, 64, tag_dim=tag_dim).to(device)
    d = PatchDiscriminator(cin + 3, default_layers(size), 64, tag_dim=tag_dim).to(device)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    warm = max(2, steps // 5)
    done, wait, t0 = -warm, 0.0, 0.0
    while done < steps:
        loader = torch.utils.data.DataLoader(
            ds,
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            drop_last=True,
            pin_memory=device == "cuda",
        )
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
            parts = [a, torch.zeros_like(b), torch.zeros_like(a)]  # line, no hints
            cond = torch.cat([*parts, tag_plane(t, size, size)] if plane else parts, 1)
            t = None if plane else t
            fake = g(cond, t)
            opt_d.zero_grad()
            real_l, fake_l = d(cond, b, t), d(cond, fake.detach(), t)
            loss_d = 0.5 * (
                F.binary_cross_entropy_with_logits(real_l, torch.ones_like(real_l))
                + F.binary_cross_entropy_with_logits(fake_l, torch.zeros_like(fake_l))
            )
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            gl = d(cond, fake, t)
            loss_g = (
                F.binary_cross_entropy_with_logits(gl, torch.ones_like(gl)) + 100 * (fake - b).abs().mean()
            )
            loss_g.backward()
            opt_g.step()
            done += 1
    sync()
    dt = time.perf_counter() - t0
    return {"img_per_s": steps * batch / dt, "data_wait": wait / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 256])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per side (after warm-up)")
    ap.add_argument("--batch", type=int, default=0, help="both sides; 0: 64 on CUDA, 16 on CPU")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the classic loop")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = "cuda" if cuda else "cpu"
    precision = "bf16" if cuda else "fp32"
    batch = args.batch or (64 if cuda else 16)
    machine = (
        torch.cuda.get_device_name()
        if cuda
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "lineart"
            make_shards(folder, max(args.samples, 2 * batch), size)
            ours = run_ours(folder, size, batch, args.steps, device)
            classic = run_classic(folder, size, batch, args.steps, device, args.workers, ours["tags_mode"])
        rows.append({"size": size, "batch": batch, "ours": ours, "classic": classic,
                     "ratio": ours["img_per_s"] / classic["img_per_s"]})  # fmt: skip
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    mode = rows[0]["ours"]["tags_mode"] if rows else "?"
    print(f"\nMachine: {machine}; torch {torch.__version__}; both sides batch {batch}; ours: `train pix2pix` "
          f"({precision}, --tags-mode {mode}, hints, data in memory); classic: fp32, per-epoch DataLoader + PIL\n")  # fmt: skip
    print("| size | batch | ours img/s | ours data wait | classic img/s | classic data wait | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, c = r["ours"], r["classic"]
        print(f"| {r['size']} | {r['batch']} | {o['img_per_s']:.1f} | {100 * o['data_wait']:.1f}% | "
              f"{c['img_per_s']:.1f} | {100 * c['data_wait']:.1f}% | {r['ratio']:.2f}x |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
