"""`train style` speed: the command itself vs a plain reference loop, in the same run.

    .venv/bin/python bench/bench_style.py [--size 256] [--iters 8] [--repeats 2] [--json out.json]
    .venv/bin/python bench/bench_style.py --gpu [--json out.json]      # what bench/gpu.sh calls (CUDA)
    .venv/bin/python bench/bench_style.py --gpu --dry-run              # the --gpu entry, tiny, on CPU
    .venv/bin/python bench/bench_style.py --readme-images docs/images  # the README's before/after

Default (CPU): seconds per L-BFGS iteration at --size px (long side) of
- ours: `train style` (`train.style.run.run_style`, what the command runs) with its default
  layers (content relu4_2; style relu1_1..relu5_1), torchvision preprocessing, untiled; the
  optimisation time of the scale from OUT.json divided by the iterations;
- reference: what a competent user writes after the PyTorch neural-style tutorial: a
  torchvision-layout VGG-19 `features` truncated after the last loss layer, ContentLoss and
  StyleLoss modules inserted after the same layers, the same losses and weights (TV included),
  `torch.optim.LBFGS(max_iter=iters)` with a closure; only the optimisation is timed.
Both use the same randomly initialised VGG-19 (weights do not change the speed) and the same
images; the runs alternate and the best of --repeats is kept.

--gpu: (1) 512 px, 500 L-BFGS iterations with the default layer set, seconds (ours; the reference
loop too, at 100 iterations, as s/iteration); (2) a 4096 px output under `--max-memory 16`, tiled
as the planner decides (with its coarse-to-fine scales), --tiled-iters per scale: seconds, peak GPU
memory and the planner's estimate. Prints a Markdown table (and --json writes the figures).
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
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)


def make_inputs(folder: Path, size: int) -> tuple[Path, Path, Path]:
    """A synthetic illustration (content), a colourful texture (style) and a random VGG-19 file."""
    import cv2

    from crawl.synthetic import make_illustration
    from train.models.vgg import random_vgg19

    content = make_illustration(7, size=(size, size * 3 // 4)).image
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)), (0, 0), 3)
    tex = ((tex - tex.mean()) * 4 + 128).clip(0, 255).astype(np.uint8)
    c, s, v = folder / "content.png", folder / "style.png", folder / "vgg19-random.pth"
    cv2.imwrite(str(c), cv2.cvtColor(content, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(s), cv2.cvtColor(tex, cv2.COLOR_RGB2BGR))
    if not v.exists():
        torch.save(random_vgg19(0).state_dict(), v)
    return c, s, v


def ours(content: Path, style: Path, vgg: Path, out: Path, device: str, **kw) -> dict:
    from train.style.run import run_style
    from train.style.settings import StyleSettings

    s = StyleSettings(content=str(content), style=[str(style)], vgg_weights=str(vgg), out=str(out),
                      device=device, vgg_preprocess="torchvision", progress=False, **kw)  # fmt: skip
    return run_style(s)


# --- the reference loop (PyTorch tutorial style) ---


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.size()
    f = x.view(b * c, h * w)
    return torch.mm(f, f.t()).div(b * c * h * w)


class ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = nn.functional.mse_loss(x, self.target)
        return x


class StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor) -> None:
        super().__init__()
        self.target = gram_matrix(target_feature).detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = nn.functional.mse_loss(gram_matrix(x), self.target)
        return x


class Normalization(nn.Module):
    def __init__(self, device: str) -> None:
        super().__init__()
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(-1, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(-1, 1, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img - self.mean) / self.std


def reference_features(state: dict) -> nn.Sequential:
    """torchvision's vgg19().features, written out (torchvision is not installed here)."""
    cfg = [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ]
    layers: list[nn.Module] = []
    c = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c = v
    feats = nn.Sequential(*layers)
    feats.load_state_dict(
        {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    )
    return feats.eval()


def reference(
    content_img: torch.Tensor, style_img: torch.Tensor, vgg: Path, iters: int, device: str
) -> float:
    """Seconds per evaluation of the tutorial-style loop (optimisation only)."""
    cnn = reference_features(torch.load(vgg, weights_only=True)).to(device)
    model = nn.Sequential(Normalization(device))
    plain = nn.Sequential(Normalization(device))  # the same layers without loss modules, for the targets
    content_losses, style_losses = [], []
    block, conv = 1, 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            conv += 1
            name = f"conv{block}_{conv}"
        elif isinstance(layer, nn.ReLU):
            name, layer = f"relu{block}_{conv}", nn.ReLU(inplace=False)
        else:
            name, block, conv = f"pool{block}", block + 1, 0
        model.add_module(name, layer)
        plain.add_module(name, layer)
        if name in CONTENT_LAYERS:
            cl = ContentLoss(plain(content_img))
            model.add_module(f"content_loss_{name}", cl)
            content_losses.append(cl)
        if name in STYLE_LAYERS:
            sl = StyleLoss(plain(style_img))
            model.add_module(f"style_loss_{name}", sl)
            style_losses.append(sl)
        if name == STYLE_LAYERS[-1]:
            break
    model.requires_grad_(False)
    img = content_img.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [img], max_iter=iters, max_eval=iters, tolerance_grad=-1, tolerance_change=-1
    )
    evals = [0]

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        model(img)
        style_score = 100.0 * sum(sl.loss for sl in style_losses)
        content_score = 5.0 * sum(cl.loss for cl in content_losses)
        x = img * 255
        tv = (
            1e-3
            * 0.5
            * ((x[..., :, 1:] - x[..., :, :-1]).pow(2).sum() + (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum())
        )
        loss = style_score + content_score + tv
        loss.backward()
        evals[0] += 1
        return loss

    _sync(device)
    t = time.perf_counter()
    optimizer.step(closure)
    _sync(device)
    return (time.perf_counter() - t) / evals[0]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _tensors(content: Path, style: Path, size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    from train.style.imageio import fit_long_side, read_rgb, resize, to_tensor

    c = read_rgb(content, "content")
    s = read_rgb(style, "style")
    return (to_tensor(resize(c, fit_long_side(c.shape[:2], size)), device),
            to_tensor(resize(s, fit_long_side(s.shape[:2], size)), device))  # fmt: skip


def cpu_bench(size: int, iters: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        c, s, v = make_inputs(d, size)
        ct, st = _tensors(c, s, size, "cpu")
        ours_s, ref_s = [], []
        for _ in range(repeats):
            rec = ours(c, s, v, d / "out.png", "cpu", size=size, iters=iters)
            ours_s.append(rec["scales"][0]["seconds"] / iters)
            ref_s.append(reference(ct, st, v, iters, "cpu"))
    return {"size": size, "iters": iters, "threads": torch.get_num_threads(),
            "ours_s_per_iter": round(min(ours_s), 3), "reference_s_per_iter": round(min(ref_s), 3),
            "all_ours": [round(x, 3) for x in ours_s], "all_reference": [round(x, 3) for x in ref_s]}  # fmt: skip


def gpu_bench(dry_run: bool, tiled_iters: int) -> dict:
    device = "cpu" if dry_run else "cuda"
    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("bench_style --gpu: no CUDA device (use --dry-run to check the script on CPU)")
    size, iters, ref_iters = (64, 4, 2) if dry_run else (512, 500, 100)
    big, budget = (256, 0.35) if dry_run else (4096, 16.0)
    out: dict = {"device": torch.cuda.get_device_name(0) if not dry_run else "cpu (dry run)"}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        c, s, v = make_inputs(d, big)
        t = time.perf_counter()
        rec = ours(c, s, v, d / "out512.png", device, size=size, iters=iters)
        out["lbfgs_512"] = {"size": size, "iters": iters, "command_seconds": round(time.perf_counter() - t, 2),
                            "optimise_seconds": rec["scales"][0]["seconds"],
                            "ours_s_per_iter": round(rec["scales"][0]["seconds"] / iters, 4),
                            "gpu_peak_gib": rec["peak_memory_gib"].get("gpu_peak_gib")}  # fmt: skip
        ct, st = _tensors(c, s, size, device)
        out["lbfgs_512"]["reference_s_per_iter"] = round(reference(ct, st, v, ref_iters, device), 4)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        t = time.perf_counter()
        rec = ours(c, s, v, d / "out4096.png", device, size=big, iters=tiled_iters, max_memory=budget)
        out["tiled_4096"] = {"size": big, "max_memory_gib": budget, "iters_per_scale": tiled_iters,
                             "seconds": round(time.perf_counter() - t, 1), "plan": rec["max_memory_plan"],
                             "scales": rec["scales"], "peak_memory_gib": rec["peak_memory_gib"]}  # fmt: skip
    return out


def readme_images(folder: Path) -> None:
    """The README's before/after: content, style and the output of the real command (random VGG-19)."""
    import shutil
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        c, s, v = make_inputs(d, 160)
        shutil.copyfile(c, folder / "style-content.png")
        shutil.copyfile(s, folder / "style-style.png")
        cmd = [sys.executable, "-m", "train", "style", "--content", str(c), "--style", str(s), "--vgg-weights",
               str(v), "--out", str(d / "out.png"), "--size", "160", "--iters", "60", "--vgg-preprocess", "caffe",
               "--device", "cpu"]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])
        shutil.copyfile(d / "out.png", folder / "style-output.png")
        print(json.dumps(json.loads((d / "out.json").read_text())["losses"][-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--gpu", action="store_true", help="the GPU figures (512 px x 500 L-BFGS; 4096 px tiled)")
    ap.add_argument("--dry-run", action="store_true", help="with --gpu: tiny sizes on CPU")
    ap.add_argument(
        "--tiled-iters", type=int, default=100, help="with --gpu: iterations per scale at 4096 px"
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--readme-images", type=Path, help="write the README's style-*.png pictures into this folder"
    )
    a = ap.parse_args()
    if a.readme_images:
        readme_images(a.readme_images)
        return
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch threads"
    if a.gpu:
        r = gpu_bench(a.dry_run, 2 if a.dry_run else a.tiled_iters)
        l5, tl = r["lbfgs_512"], r["tiled_4096"]
        peak = tl["peak_memory_gib"].get("gpu_peak_gib", tl["peak_memory_gib"]["rss_peak_gib"])
        print(f"| device | case | figure |\n|---|---|---|\n"
              f"| {r['device']} | {l5['size']} px, {l5['iters']} L-BFGS iterations | {l5['optimise_seconds']:.1f} s "
              f"({l5['ours_s_per_iter'] * 1000:.1f} ms/it; reference loop {l5['reference_s_per_iter'] * 1000:.1f} ms/it) |\n"
              f"| {r['device']} | {tl['size']} px tiled, --max-memory {tl['max_memory_gib']:g}, "
              f"{tl['iters_per_scale']} it/scale | {tl['seconds']:.0f} s, peak {peak:.2f} GiB |")  # fmt: skip
        print("plan: " + "; ".join(tl["plan"]))
    else:
        r = cpu_bench(a.size, a.iters, a.repeats)
        r["machine"] = machine
        print(f"| machine | size | ours s/it | reference s/it | ours / reference |\n|---|---|---|---|---|\n"
              f"| {machine} | {r['size']} px | {r['ours_s_per_iter']:.2f} | {r['reference_s_per_iter']:.2f} | "
              f"{r['ours_s_per_iter'] / r['reference_s_per_iter']:.2f} |")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
