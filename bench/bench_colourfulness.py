"""Colourfulness of the colorizer's outputs: the L1-only U-Net (the source write-up's sepia baseline)
against pix2pix without tags, with tags, and with colour hints, on the same data and budget.

    .venv/bin/python bench/bench_colourfulness.py [--steps 150] [--posts 60] [--seed 0] [--json out.json]

Colourfulness is the mean CIELab chroma C* = sqrt(a*^2 + b*^2) over all pixels (OpenCV's float Lab
of RGB in [0, 1]: a*, b* in the usual units, grey = 0), of the outputs and of the targets on the same
held-out line art; the table gives both and their ratio (1.0: as colourful as the drawings' real
colours; well below 1: washed out, the "sepia" look). "hair" is the same over the hair pixels only:
the data (the sample site's synthetic faces, as tests/test_pix2pix.py builds them) draws every face
twice with the SAME line art, once with red and once with blue hair, so without tags or hints the
hair colour cannot be told from the drawing and an L1 loss is minimised by their average.

Every variant is the real trainer (`train.pix2pix.train`, what `train pix2pix` runs) at 32 px, ngf =
ndf = 16, batch 16, lr 5e-4, the same seed, steps and training shards; the only differences:

    L1-only U-Net      --gan-weight 0 --tags-mode none --no-hints
    L1-only + tags     --gan-weight 0 --tags-mode embed --no-hints
    pix2pix, no tags   --tags-mode none --no-hints
    pix2pix + tags     --tags-mode embed --no-hints           (evaluated with each sample's own tags)
    pix2pix + hints    --tags-mode none (hints on)            (evaluated with simulated hints taken from
                                                                the target, as a user's colour dots)

Evaluation: the final generator (eval mode) on 2 x `--eval-posts` held-out faces (posts never seen in
training, both hair colours), no augmentation. Prints a Markdown table.
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

VARIANTS = {
    "L1-only U-Net": {"gan_weight": 0.0, "tags_mode": "none", "hints": False},
    "L1-only + tags": {"gan_weight": 0.0, "tags_mode": "embed", "hints": False},
    "pix2pix, no tags": {"tags_mode": "none", "hints": False},
    "pix2pix + tags": {"tags_mode": "embed", "hints": False},
    "pix2pix + hints": {"tags_mode": "none", "hints": True},
}


def chroma(rgb: np.ndarray) -> np.ndarray:
    """CIELab chroma per pixel of [N, H, W, 3] RGB in [0, 1]."""
    import cv2

    lab = np.stack([cv2.cvtColor(np.ascontiguousarray(im, np.float32), cv2.COLOR_RGB2LAB) for im in rgb])
    return np.hypot(lab[..., 1], lab[..., 2])


def eval_set(first_post: int, n_posts: int, size: int) -> dict[str, object]:
    """Held-out pairs (both hair colours of each post), their tag vectors and hair masks."""
    from tests.test_pix2pix import HAIRS, VOCAB_TAGS, face_pair, hair_region

    colours, lines, tags, hair = [], [], [], []
    for pid in range(first_post, first_post + n_posts):
        mask = hair_region(pid, size)
        for h in HAIRS:
            c, ln = face_pair(pid, h, size)
            colours.append(c)
            lines.append(ln)
            want = {"1girl", "smile", "solo", h}
            tags.append([1.0 if t in want else 0.0 for t in VOCAB_TAGS])
            hair.append(mask)
    return {
        "color": torch.from_numpy(np.stack(colours)).permute(0, 3, 1, 2).contiguous(),
        "line": torch.from_numpy(np.stack(lines))[:, None].contiguous(),
        "tags": torch.tensor(tags),
        "hair": np.stack(hair),
    }


@torch.no_grad()
def outputs(run: Path, data: dict[str, object]) -> np.ndarray:
    """The run's final generator on the evaluation set: [N, H, W, 3] RGB in [0, 1]."""
    from train.conditioning import prepare
    from train.pix2pix import load_colorizer, prep_of

    model = load_colorizer(run)
    o = model.options
    tags = data["tags"] if o["tags_mode"] != "none" else None
    cond, _, _, _ = prepare(
        data["color"], data["line"], tags, prep_of(o), torch.Generator().manual_seed(5), augment=False,
        hints="all" if o["hints"] else "off",
    )  # fmt: skip
    out = model.G(cond, tags if o["tags_mode"] == "embed" else None).float().clamp(-1, 1)
    return ((out + 1) / 2).permute(0, 2, 3, 1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument(
        "--posts", type=int, default=60, help="training posts (each drawn with both hair colours)"
    )
    ap.add_argument("--eval-posts", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="seed of every variant's run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from tests.test_pix2pix import make_lineart_shards
    from train.pix2pix import Pix2PixOptions, train

    size = 32
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        shards = Path(tmp) / "lineart"
        make_lineart_shards(shards, n_posts=args.posts, size=size)  # posts 1000 .. 1000 + posts - 1
        data = eval_set(5000, args.eval_posts, size)
        target = data["color"].permute(0, 2, 3, 1).numpy() / 255.0
        c_target = chroma(target)
        hair = data["hair"]
        for name, kw in VARIANTS.items():
            o = Pix2PixOptions(
                shards=str(shards), out=str(Path(tmp) / name.replace(" ", "_")), size=size, ngf=16, ndf=16,
                batch=16, steps=args.steps, lr=5e-4, val_fraction=0.0, tick_kimg=100.0, snap_kimg=100.0,
                workers=0, progress=False, data="memory", seed=args.seed, **kw,
            )  # fmt: skip
            t0 = time.perf_counter()
            train(o)
            seconds = time.perf_counter() - t0
            out = outputs(Path(o.out), data)
            c_out = chroma(out)
            rows.append({
                "variant": name, "chroma_out": float(c_out.mean()), "chroma_target": float(c_target.mean()),
                "ratio": float(c_out.mean() / c_target.mean()),
                "hair_ratio": float(c_out[hair].mean() / c_target[hair].mean()),
                "l1": float(np.abs(out - target).mean()), "train_s": seconds,
            })  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}"
    print(f"{machine}; 32 px, {args.steps} steps of 16, seed {args.seed}, {args.posts * 2} training pairs, "
          f"{args.eval_posts * 2} held-out pairs\n")  # fmt: skip
    print("| variant | chroma of outputs | chroma of targets | ratio | hair ratio | L1 (0-1) | train s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['chroma_out']:.1f} | {r['chroma_target']:.1f} | {r['ratio']:.2f} | "
            f"{r['hair_ratio']:.2f} | {r['l1']:.3f} | {r['train_s']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
