"""`train stylize` throughput against a plain per-frame loop, and the stability figure of `--temporal-weight`.

    .venv/bin/python bench/bench_fast_style.py throughput            # CPU, 640x360 (default network)
    .venv/bin/python bench/bench_fast_style.py --gpu                 # CUDA, 1920x1080, bf16 (bench/gpu.sh)
    .venv/bin/python bench/bench_fast_style.py stability             # CPU, small sizes (minutes)
    .venv/bin/python bench/bench_fast_style.py shifts --ckpt RUN ...   # warp_error by pan speed
    .venv/bin/python bench/bench_fast_style.py pictures --keep DIR --json FILE --pictures docs/images

throughput: a clip of synthetic illustrations (crawl.synthetic) panning under the camera, encoded
with mp4v at the given size; the same randomly initialised Johnson network (--width 32 --blocks 5,
as `train fast-style` trains by default) run by
- `train stylize` (train.stylize.run.stylize, --no-warp-error: the same work as the loop): a reader
  thread decoding, frames converted on the device, a writer thread encoding;
- the plain loop a user would write: cv2.VideoCapture.read, torch.from_numpy -> float / 255 ->
  model -> * 255 -> uint8 -> numpy, cv2.VideoWriter.write, one frame after the other.
Frames per second of each, measured in the same run.

stability: `train fast-style` runs that differ only in --temporal-weight and --style-weight, same
seed, content, steps and random VGG-19, on a busy brush-stroke style (`--style strokes`, the kind
of texture that swims); each network stylises the same clip (a pan with per-frame sensor noise)
with `train stylize`. The network without the stability loss is trained at --style-weight S; for
each W of --temporal-weight (a list) a network with it is trained at S x 1, 2, 4 (--match-style)
until its held-out style loss is at most --style-tolerance above that of the network without: the
stability loss costs texture, so equal style loss needs a larger style weight. Reported: every
run's warp_error and held-out style loss, the input's floor, and the cut in warp_error of the most
stable network at equal style loss.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawl.synthetic import draw, plan_illustration  # noqa: E402


def write_pan(
    path: Path, canvas: np.ndarray, frames: int, w: int, h: int, step: tuple[int, int],
    origin: tuple[int, int] = (0, 0), fps: float = 25.0, fourcc: str = "mp4v", noise: float = 0.0,
) -> Path:  # fmt: skip
    """A w x h window moving `step` (dx, dy) px a frame over a BGR canvas from `origin` (x, y),
    with Gaussian noise of std `noise` per frame (seeded), written with `fourcc`."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for t in range(frames):
        x, y = origin[0] + step[0] * t, origin[1] + step[1] * t
        f = canvas[y : y + h, x : x + w].astype(np.float32)
        if noise:
            f += rng.normal(0, noise, f.shape).astype(np.float32)
        writer.write(np.clip(f, 0, 255).astype(np.uint8))
    writer.release()
    return path


def make_clip(path: Path, frames: int, w: int, h: int, fps: float = 25.0, noise: float = 0.0) -> Path:
    """A pan (2 px per frame to the right, 1 down) over a synthetic illustration, with Gaussian noise."""
    big = cv2.cvtColor(
        draw(plan_illustration(7, size=(w + 2 * frames + 8, h + frames + 8))), cv2.COLOR_RGB2BGR
    )
    return write_pan(path, big, frames, w, h, (2, 1), fps=fps, noise=noise)


def stroke_style(size: int = 128, strokes: int = 600, seed: int = 0) -> np.ndarray:
    """A busy brush-stroke texture (BGR uint8): short thick strokes of random colour and angle, the
    kind of style (a Starry Night) whose texture swims and flickers in a feed-forward network."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 40, np.uint8)
    palette = rng.integers(0, 256, (6, 3))
    for _ in range(strokes):
        x, y = rng.integers(0, size, 2)
        a = rng.uniform(0, np.pi)
        length = rng.uniform(3, 9)
        dx, dy = int(length * np.cos(a)), int(length * np.sin(a))
        colour = tuple(int(c) for c in palette[rng.integers(0, len(palette))])
        cv2.line(img, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)), colour, int(rng.integers(1, 3)))
    return img


def save_net(path: Path, width: int, blocks: int) -> Path:
    """A fast-style snapshot of a randomly initialised network (what `train stylize` reads)."""
    from train.models.transformer import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(width, blocks)
    state = {"kind": "fast-style", "format": 1, "options": {}, "net": net.config(), "T": net.state_dict(),
             "T_ema": net.state_dict(), "counters": {}}  # fmt: skip
    torch.save(state, path)
    return path


@torch.inference_mode()
def plain_loop(net: torch.nn.Module, src: Path, dst: Path, device: str, bf16: bool) -> int:
    """Decode, to tensor, model, to uint8, encode: one frame at a time."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        x = torch.from_numpy(frame[:, :, ::-1].copy()).permute(2, 0, 1)[None].float().div(255).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            y = net(x).float()
        img = (y[0] * 255).clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()[:, :, ::-1]
        out.write(np.ascontiguousarray(img))
        n += 1
    cap.release()
    out.release()
    return n


def throughput(args: argparse.Namespace) -> dict:
    from train.fast_style.checkpoint import load_transformer
    from train.stylize.run import stylize

    device = "cuda" if args.gpu else "cpu"
    w, h = (1920, 1080) if args.gpu else (args.width_px, args.height_px)
    frames = args.frames or (120 if args.gpu else 6)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        clip = make_clip(t / "clip.mp4", frames, w, h)
        ckpt = save_net(t / "net.pt", args.net_width, args.blocks)
        net, _ = load_transformer(ckpt, device)
        warm = make_clip(t / "warm.mp4", 2, w, h)
        plain_loop(net, warm, t / "warm-out.mp4", device, args.gpu)  # warm-up (cuDNN, allocator)
        precision = "bf16" if args.gpu else "fp32"
        t0 = time.perf_counter()
        n_plain = plain_loop(net, clip, t / "plain.mp4", device, args.gpu)
        plain_s = time.perf_counter() - t0
        r = stylize(str(ckpt), str(clip), str(t / "ours.mp4"), device=device, precision=precision,
                    batch=args.batch, warp_error=False, progress=False)  # fmt: skip
        ours_s = r["seconds"]
    res = {
        "size": f"{w}x{h}", "frames": frames, "device": device, "precision": precision,
        "network": f"width {args.net_width}, {args.blocks} blocks (random weights)", "batch": args.batch,
        "plain_fps": round(n_plain / plain_s, 3), "stylize_fps": round(r["frames"] / ours_s, 3),
    }  # fmt: skip
    res["speedup"] = round(res["stylize_fps"] / res["plain_fps"], 2)
    print(
        f"\n## fast-style throughput ({device}, {precision}, {w}x{h}, {frames} frames)\n\n"
        f"| | frames/s |\n|---|---|\n| plain per-frame loop | {res['plain_fps']} |\n"
        f"| `train stylize` (batch {args.batch}) | {res['stylize_fps']} |\n| ratio | {res['speedup']}x |"
    )
    return res


def stability(args: argparse.Namespace) -> dict:
    from core.shards import write_index, write_shard
    from train.commands.fast_style import FastStyleOptions
    from train.fast_style.trainer import train
    from train.models.vgg import random_vgg19
    from train.stylize.run import stylize

    torch.set_num_threads(args.threads)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        samples = []
        for i in range(args.images):
            img = cv2.cvtColor(
                draw(plan_illustration(100 + i, size=(args.size * 3 // 2, args.size))), cv2.COLOR_RGB2BGR
            )
            samples.append((f"img_{i:016x}", {"png": cv2.imencode(".png", img)[1].tobytes()}))
        content = t / "content"
        content.mkdir()
        write_index(content, [write_shard(content / "content-000000.tar", samples)], "content")
        vgg = t / "vgg19-random.pth"
        torch.save(random_vgg19(0).state_dict(), vgg)
        style = t / "style.png"
        if args.style == "strokes":
            cv2.imwrite(str(style), stroke_style())
        else:
            cv2.imwrite(
                str(style), cv2.cvtColor(draw(plan_illustration(3, size=(96, 96))), cv2.COLOR_RGB2BGR)
            )
        clip = make_clip(
            t / "clip.mp4", args.clip_frames, args.clip_w, args.clip_h, fps=10, noise=args.clip_noise
        )

        def run(name: str, tw: float, sw: float) -> dict:
            o = FastStyleOptions(
                shards=str(content), style=str(style), vgg_weights=str(vgg), out=str(t / name), size=args.size,
                batch=args.batch, steps=args.steps, width=args.net_width, blocks=args.blocks,
                temporal_weight=tw, workers=0, progress=False, holdout=4, tick_kimg=1e9,
                snap_kimg=args.steps * args.batch / 1000, style_layers=args.style_layers, style_weight=sw,
                antialias=not args.no_antialias,
            )  # fmt: skip
            s = train(o)
            r = stylize(str(t / name), str(clip), str(t / f"{name}.mp4"), progress=False)
            res = {"name": name, "temporal_weight": tw, "style_weight": sw, "warp_error": r["warp_error"],
                   "input_warp_error": r["input_warp_error"], "val_style": s["val_style"],
                   "val_content": s["val_content"], "train_s": s["time_s"]}  # fmt: skip
            print(name, json.dumps(res), flush=True)
            if args.keep:  # the run, its stylised clip and the clip, for pictures and a look
                import shutil

                keep = Path(args.keep)
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copytree(t / name, keep / name, dirs_exist_ok=True)
                for f in (f"{name}.mp4", f"{name}.json", "clip.mp4", "style.png"):
                    shutil.copy(t / f, keep / f)
            return res

        out["without"] = a = run("without", 0.0, args.style_weight)
        # equal style loss: the stability loss costs texture, so each network trained with it gets a
        # larger style weight (x1, x2, x4, ...) until its held-out style loss is within --style-tolerance
        tried = []
        for tw in (float(v) for v in str(args.temporal_weight).split(",")):
            for k in (float(v) for v in args.match_style.split(",")):
                b = run(f"with_{tw:g}_x{k:g}", tw, args.style_weight * k)
                b["matched"] = b["val_style"] <= a["val_style"] * (1 + args.style_tolerance)
                tried.append(b)
                if b["matched"]:
                    break
        out["with_tried"] = tried
    matched = [r for r in tried if r["matched"]]
    # the headline: the most stable network at equal style loss (else the one nearest in style loss)
    b = (
        min(matched, key=lambda r: r["warp_error"])
        if matched
        else min(tried, key=lambda r: abs(np.log(r["val_style"] / a["val_style"])))
    )
    out["with"] = b
    out["cut"] = round(1 - b["warp_error"] / a["warp_error"], 3)
    out["style_ratio"] = round(b["val_style"] / a["val_style"], 3)
    out["matched"] = bool(matched)
    rows = "".join(
        f"| with | {r['temporal_weight']:g} | {r['style_weight']:g} | {r['warp_error']:.3f} | {r['val_style']:.3g} "
        f"| {r['val_content']:.3g} |\n"
        for r in tried
    )
    print(
        f"\n## fast-style stability (CPU, {args.size} px crops, batch {args.batch}, {args.steps} steps, "
        f"width {args.net_width}, {args.blocks} blocks{', --no-antialias' if args.no_antialias else ''}, "
        f"{args.style} style, random VGG-19; clip {args.clip_w}x{args.clip_h}, "
        f"{args.clip_frames} frames, noise std {args.clip_noise})\n\n"
        "| network | --temporal-weight | --style-weight | warp_error | held-out style loss | held-out content loss |\n"
        "|---|---|---|---|---|---|\n"
        f"| without | 0 | {a['style_weight']:g} | {a['warp_error']:.3f} | {a['val_style']:.3g} | {a['val_content']:.3g} |\n"
        f"{rows}| input (floor) | | | {a['input_warp_error']:.3f} | | |\n\n"
        f"warp_error cut by {100 * out['cut']:.0f}% (--temporal-weight {b['temporal_weight']:g}, --style-weight "
        f"{b['style_weight']:g}) at style loss x{out['style_ratio']:g} of the network without"
        + ("" if matched else f": NOT at equal style loss (no run within {args.style_tolerance:g} of it)")
    )
    return out


def shifts(args: argparse.Namespace) -> dict:
    """warp_error of `train stylize` with each --ckpt on lossless clips panning 0, 1, 2 and 4 px a
    frame (no noise): how much of a network's flicker is its texture jumping with the 4 px grid."""
    from train.stylize.run import stylize

    torch.set_num_threads(args.threads)
    w, h, frames = args.clip_w, args.clip_h, args.clip_frames
    big = cv2.cvtColor(draw(plan_illustration(7, size=(w + 4 * frames + 8, h + 8))), cv2.COLOR_RGB2BGR)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dx in (0, 1, 2, 4):
            clip = write_pan(Path(tmp) / f"pan{dx}.avi", big, frames, w, h, (dx, 0), (0, 4), 10, "FFV1")
            for ckpt in args.ckpt:
                r = stylize(ckpt, str(clip), str(Path(tmp) / "out.mp4"), progress=False)
                out.setdefault(ckpt, {})[dx] = r["warp_error"]
                out.setdefault("input", {})[dx] = r["input_warp_error"]
    print(f"\n## warp_error by pan speed (clip {w}x{h}, {frames} frames, FFV1, no noise)\n")
    print("| network | 0 px | 1 px | 2 px | 4 px |\n|---|---|---|---|---|")
    for name, row in out.items():
        print(f"| {name} | " + " | ".join(f"{row[dx]:.3f}" for dx in (0, 1, 2, 4)) + " |")
    return out


def pictures(args: argparse.Namespace) -> dict:
    """The README's frames from a `stability --keep DIR --json FILE` run: frame --frame of the clip,
    of the network without the stability loss and of the headline network with it (both made by
    `train stylize`), each beside its change from the previous frame, 3x enlarged."""
    keep, res = Path(args.keep), json.loads(Path(args.json).read_text())

    def frames(path: Path) -> tuple[np.ndarray, np.ndarray]:
        cap = cv2.VideoCapture(str(path))
        got = [cap.read()[1] for _ in range(args.frame + 1)]
        cap.release()
        return got[-1], got[-2]

    out = Path(args.pictures)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, src in (
        ("input", "clip.mp4"),
        ("without", "without.mp4"),
        ("with", f"{res['with']['name']}.mp4"),
    ):
        cur, prev = frames(keep / src)
        change = np.abs(cur.astype(np.int16) - prev.astype(np.int16)).astype(np.uint8)
        pair = np.hstack([cur, np.full((cur.shape[0], 4, 3), 255, np.uint8), change])
        path = out / f"fast-style-frame-{name}.png"
        cv2.imwrite(str(path), cv2.resize(pair, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST))
        written[name] = str(path)
    style = cv2.imread(str(keep / "style.png"))
    cv2.imwrite(str(out / "fast-style-style.png"), style)
    written["style"] = str(out / "fast-style-style.png")
    print(json.dumps(written))
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "what", nargs="?", choices=("throughput", "stability", "shifts", "pictures"), default="throughput"
    )
    p.add_argument("--ckpt", action="append", default=[], help="shifts: a fast-style run (repeatable)")
    p.add_argument("--gpu", action="store_true", help="throughput on CUDA at 1920x1080 in bf16")
    p.add_argument("--frames", type=int, default=0, help="clip length (0: 6 on CPU, 120 on the GPU)")
    p.add_argument("--width-px", type=int, default=640)
    p.add_argument("--height-px", type=int, default=360)
    p.add_argument("--batch", type=int, default=0, help="frames per forward (throughput) or training batch")
    p.add_argument("--net-width", type=int, default=0)
    p.add_argument("--blocks", type=int, default=-1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--images", type=int, default=16)
    p.add_argument(
        "--temporal-weight", default="1e5,3e5,1e6", help="stability: one weight or a comma-separated list"
    )
    p.add_argument(
        "--style",
        choices=("strokes", "illustration"),
        default="strokes",
        help="stability: the style image, brush strokes (textured) or a synthetic illustration",
    )
    p.add_argument("--style-layers", default="relu1_1,relu2_1,relu3_1,relu4_1")
    p.add_argument("--no-antialias", action="store_true", help="stability: Johnson et al.'s strided network")
    p.add_argument("--style-weight", type=float, default=1e12, help="stability: strong enough to texture")
    p.add_argument(
        "--match-style",
        default="1,2,4",
        help="stability: style-weight multipliers tried for the network with the stability loss",
    )
    p.add_argument(
        "--style-tolerance",
        type=float,
        default=0.1,
        help="stability: stop at the first multiplier whose style loss is at most this much higher",
    )
    p.add_argument("--clip-w", type=int, default=96)
    p.add_argument("--clip-h", type=int, default=64)
    p.add_argument("--clip-frames", type=int, default=16)
    p.add_argument("--clip-noise", type=float, default=4.0)
    p.add_argument("--json", help="also write the figures to this file (pictures: read them from it)")
    p.add_argument("--pictures", help="pictures: the folder to write the README's frames into")
    p.add_argument("--frame", type=int, default=8, help="pictures: which frame of the clip")
    p.add_argument("--keep", help="stability: copy both runs and clips into this folder")
    args = p.parse_args()
    thr = args.what == "throughput"
    args.batch = args.batch or ((4 if args.gpu else 1) if thr else 2)
    args.net_width = args.net_width or (32 if thr else 16)
    args.blocks = args.blocks if args.blocks >= 0 else (5 if thr else 3)
    if args.gpu and not torch.cuda.is_available():
        print("bench_fast_style: --gpu but torch sees no CUDA device: skipped")
        return
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    what = {"throughput": throughput, "stability": stability, "shifts": shifts, "pictures": pictures}
    res = what[args.what](args)
    if args.json and args.what != "pictures":
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
