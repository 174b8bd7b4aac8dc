"""`train pix2pix`: the tag-conditioned line-art colorizer on line-art shards from `prep canny`.

Its options, each declared once (default, help, whether it defines the run); the command is built
from them. Light module: no torch (the CLI imports it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from train.commands.common import command
from train.engine.options import RunOptions, option


@dataclass
class Pix2PixOptions(RunOptions):
    """Every option of `train pix2pix`; the run-level ones (batch, kimg, intervals, data, device,
    resume, ...) come from `RunOptions`, some with pix2pix's own defaults."""

    shards: str = option("data/lineart", "Line-art shards from `prep canny` (folder with shards.json).")
    out: str = "runs/pix2pix"
    size: int = option(96, "Image size (96: 5-level U-Net; 256: the classic 8).", identity=True)
    tags_mode: str = option(
        "embed", "Tags: embed (a learned projection), plane (one extra input channel) or none.", identity=True
    )
    hints: bool = option(True, "Simulate users' colour hints during training.", identity=True)
    vocab: str | None = option(
        None, "vocab.json of the shards (default: <shards>/vocab.json, ../tags/vocab.json)."
    )
    batch: int = 16
    lambda_l1: float = option(100.0, "Weight of the L1 loss.", identity=True)
    gan_weight: float = option(
        1.0, "Weight of the adversarial loss; 0: the plain U-Net with the L1 loss only (no discriminator).",
        identity=True,
    )  # fmt: skip
    kimg: float = 200.0
    decay_kimg: float | None = option(None, "Linear LR decay over the last N kimg (default: second half).")
    ngf: int = option(64, "Generator width (channels of its first layer).", identity=True)
    ndf: int = option(64, "Discriminator width (channels of its first layer).", identity=True)
    d_layers: int = option(
        0, "PatchGAN stride-2 blocks: 0 auto (34 px patches to 128 px, then 70 px).", identity=True
    )
    embed_dim: int = option(16, "Channels of the tag projection (--tags-mode embed).", identity=True)
    dropout: float = option(0.5, "Dropout in the innermost decoder blocks.", identity=True)
    hint_none: float = option(0.5, "Share of training samples without any hint.", identity=True)
    max_hints: int = option(6, "Most hint patches per sample.", identity=True)
    jitter: bool = option(True, "Random translation + flip, the same for line and colour.", identity=True)
    val_fraction: float = option(0.05, "Share of posts held out for validation.", identity=True)
    val_samples: int = option(256, "Most validation samples evaluated.")
    val_kimg: float = option(10.0, "Validate (metrics, grid, best) every this many kimg.")
    best_metric: str = option("l1", "Metric for network-best.pt: l1, psnr, ssim, hint_error.")
    grid: int = option(8, "Validation samples in each preview grid.")
    tick_kimg: float = 2.0
    snap_kimg: float = 20.0
    seed: int = option(0, "Seed of weights, augmentation, hints and data order.")


main = command(
    Pix2PixOptions,
    "train.pix2pix",
    "Train the line-art colorizer; `--resume auto` continues where a run stopped.",
)
