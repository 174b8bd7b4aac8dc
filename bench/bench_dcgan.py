"""DCGAN training throughput: the project's trainer on shards vs a plain pytorch/examples-style loop.

    .venv/bin/python bench/bench_dcgan.py                   # CUDA if present, else CPU at 32 and 96 px
    .venv/bin/python bench/bench_dcgan.py --sizes 96 --batch 256 --faces 20000 --steps 200

Measured, per image size:
- FLOPs per image of one training step (G and D, forward and backward), counted by torch.
- `train dcgan` itself (`train.dcgan.train`) with --data memory (shards decoded once into device
  memory) and --data stream (webdataset shards, DataLoader workers): images/s and the share of
  wall time the training loop waited for data, from its own stats.jsonl (first tick = warm-up,
  left out). On CUDA the precision is bf16, on CPU fp32.
- Baseline: fp32, a DataLoader of PNG files decoded with PIL (as pytorch/examples dcgan does with
  ImageFolder), the same networks and optimiser; images/s and the ratio trainer / baseline.
Faces are cut from the project's synthetic illustrations (crawl.synthetic), or pass --shards.
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.shards import iter_samples, shard_paths, write_index, write_shard  # noqa: E402
from train.dcgan import DCGANOptions, d_losses, g_loss, train, train_step  # noqa: E402
from train.engine.rundir import read_stats  # noqa: E402
from train.engine.trainer import Nets  # noqa: E402
from train.models.dcgan import build  # noqa: E402


def make_faces(out: Path, n: int, size: int, per_shard: int = 1000) -> Path:
    """n face crops from synthetic illustrations, resized to size x size, in shards of per_shard."""
    import cv2
    from PIL import Image

    from crawl.synthetic import make_illustration

    out.mkdir(parents=True, exist_ok=True)
    samples, infos, pid = [], [], 0
    while sum(i.nsamples for i in infos) + len(samples) < n:
        ill = make_illustration(pid, seed=0, size=(192, 192))
        for x, y, w, h in ill.faces:
            img = cv2.resize(ill.image[y : y + h, x : x + w], (size, size), interpolation=cv2.INTER_AREA)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            samples.append((f"p{pid:07d}_{len(samples):04d}", {"png": buf.getvalue()}))
            if len(samples) == per_shard:
                infos.append(write_shard(out / f"faces-{len(infos):06d}.tar", samples))
                samples = []
        pid += 1
    if samples:
        infos.append(write_shard(out / f"faces-{len(infos):06d}.tar", samples))
    write_index(out, infos, name="faces")
    return out


def flops_per_image(size: int, ngf: int, ndf: int) -> float:
    """FLOPs of one training step per image (torch's counter: 2 per multiply-add)."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    g, d = build(size, 100, ngf, ndf, "lrelu")
    o = DCGANOptions(size=size, ngf=ngf, ndf=ndf)
    nets = Nets(
        {"G": g, "D": d, "G_ema": copy.deepcopy(g)},
        {"opt_g": torch.optim.Adam(g.parameters()), "opt_d": torch.optim.Adam(d.parameters())},
    )
    reals = torch.rand(4, 3, size, size) * 2 - 1
    with FlopCounterMode(display=False) as fc:
        train_step(nets, reals, o, torch.Generator().manual_seed(0), "cpu", "fp32")
    return fc.get_total_flops() / 4


def run_trainer(
    shards: Path, size: int, batch: int, steps: int, data: str, device: str, workers: int
) -> dict:
    """Images/s and data-wait share of `train dcgan`, from its stats.jsonl (warm-up tick dropped)."""
    with tempfile.TemporaryDirectory() as tmp:
        o = DCGANOptions(
            shards=str(shards), out=tmp, size=size, batch=batch, steps=steps, data=data, workers=workers,
            device=device, precision="bf16" if device == "cuda" else "fp32", swd_n=0, grid=16, progress=False,
            tick_kimg=batch * max(1, steps // 5) / 1000, snap_kimg=1e9,
        )  # fmt: skip
        train(o)
        recs = [r for r in read_stats(Path(tmp) / "stats.jsonl") if r.get("tick", 0) >= 2]
    imgs = sum(r["img_per_s"] * r["sec_per_tick"] for r in recs)
    secs = sum(r["sec_per_tick"] for r in recs)
    wait = sum(r["data_wait"] * r["sec_per_tick"] for r in recs) / max(secs, 1e-9)
    mem = max((r.get("gpu_peak_gib", r["rss_peak_gib"]) for r in recs), default=0.0)
    return {"img_per_s": imgs / max(secs, 1e-9), "data_wait": wait, "mem_gib": mem}


class PngFolder(torch.utils.data.Dataset):
    """pytorch/examples style: one PNG file per image, decoded with PIL, to float in [-1, 1]."""

    def __init__(self, folder: Path) -> None:
        self.files = sorted(folder.glob("*.png"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        import numpy as np
        from PIL import Image

        img = np.asarray(Image.open(self.files[i]).convert("RGB"), dtype=np.float32)
        x = torch.from_numpy(img).permute(2, 0, 1) / 127.5 - 1
        return x.flip(2) if torch.rand(()) < 0.5 else x


def run_baseline(shards: Path, size: int, batch: int, steps: int, device: str, workers: int) -> dict:
    """fp32 loop of the pytorch/examples kind: PIL DataLoader over PNG files, BCE, Adam, no EMA."""
    with tempfile.TemporaryDirectory() as tmp:
        for shard in shard_paths(shards):
            for key, files in iter_samples(shard):
                (Path(tmp) / f"{key}.png").write_bytes(files["png"])
        loader = torch.utils.data.DataLoader(
            PngFolder(Path(tmp)), batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
            pin_memory=device == "cuda", persistent_workers=workers > 0,
        )  # fmt: skip
        torch.manual_seed(0)
        g, d = build(size, 100, 64, 64, "lrelu")
        g.to(device)
        d.to(device)
        og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
        od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
        done, warm, t0, wait = 0, max(2, steps // 5), 0.0, 0.0
        while done < steps:
            it = iter(loader)
            while done < steps:
                tw = time.perf_counter()
                try:
                    x = next(it)
                except StopIteration:
                    break
                if done >= warm:
                    wait += time.perf_counter() - tw
                if done == warm:
                    if device == "cuda":
                        torch.cuda.synchronize()
                    t0, wait = time.perf_counter(), 0.0
                x = x.to(device, non_blocking=True)
                fake = g(torch.randn(x.shape[0], 100, 1, 1, device=device))
                od.zero_grad()
                out_real, out_fake = d(x), d(fake.detach())
                loss_real, loss_fake = d_losses("bce", out_real, out_fake)
                (loss_real + loss_fake).backward()
                od.step()
                og.zero_grad()
                g_loss("bce", d(fake)).backward()
                og.step()
                done += 1
        if device == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
    return {"img_per_s": (steps - warm) * batch / secs, "data_wait": wait / secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--sizes", default=None, help="comma-separated sizes (default: 96 on CUDA, 32,96 on CPU)")
    ap.add_argument("--batch", type=int, default=None, help="default: 256 on CUDA, 64 on CPU")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per case (default 300 CUDA, 20 CPU)")
    ap.add_argument(
        "--faces", type=int, default=None, help="faces to generate (default 20000 CUDA, 2000 CPU)"
    )
    ap.add_argument("--workers", type=int, default=None, help="loader workers (default 8 CUDA, 2 CPU)")
    ap.add_argument("--shards", default=None, help="use these face shards instead of synthetic ones")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = ap.parse_args()
    cuda = a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available())
    device = "cuda" if cuda else "cpu"
    sizes = [int(s) for s in (a.sizes or ("96" if cuda else "32,96")).split(",")]
    batch = a.batch or (256 if cuda else 64)
    steps = a.steps or (300 if cuda else 20)
    nfaces = a.faces or (20000 if cuda else 2000)
    workers = a.workers if a.workers is not None else (8 if cuda else 2)
    name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    print(
        f"# bench_dcgan: device={device} ({name}), torch {torch.__version__}, threads={torch.get_num_threads()}"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            shards = Path(a.shards) if a.shards else make_faces(Path(tmp) / f"faces{size}", nfaces, size)
            row = {"size": size, "batch": batch, "gflop_per_img": flops_per_image(size, 64, 64) / 1e9}
            for data in ("memory", "stream"):
                r = run_trainer(shards, size, batch, steps, data, device, workers)
                row.update({f"{data}_{k}": v for k, v in r.items()})
            base = run_baseline(shards, size, batch, steps, device, workers)
            row.update({f"baseline_{k}": v for k, v in base.items()})
            row["ratio_memory"] = row["memory_img_per_s"] / base["img_per_s"]
            row["ratio_stream"] = row["stream_img_per_s"] / base["img_per_s"]
            row["tflops_memory"] = row["memory_img_per_s"] * row["gflop_per_img"] / 1e3
            results.append(row)
            print(json.dumps(row), flush=True)
    prec = "bf16" if cuda else "fp32"
    print(
        f"\n| size | batch | GFLOP/img | trainer memory ({prec}) img/s, wait | trainer stream img/s, wait "
        "| baseline fp32 PIL img/s, wait | ratio memory / stream |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['size']} | {r['batch']} | {r['gflop_per_img']:.2f} "
            f"| {r['memory_img_per_s']:.0f}, {100 * r['memory_data_wait']:.1f}% "
            f"| {r['stream_img_per_s']:.0f}, {100 * r['stream_data_wait']:.1f}% "
            f"| {r['baseline_img_per_s']:.0f}, {100 * r['baseline_data_wait']:.1f}% "
            f"| {r['ratio_memory']:.2f} / {r['ratio_stream']:.2f} |"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
