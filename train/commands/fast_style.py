"""`train fast-style`: train a feed-forward style network (Johnson et al.) on content shards.

Its options, each declared once (default, help, whether it defines the run); the command is built
from them. Light module: no torch (the CLI imports it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from train.commands.common import command
from train.engine.options import RunOptions, option


@dataclass
class FastStyleOptions(RunOptions):
    """Every option of `train fast-style`; the run-level ones (kimg, steps, intervals, device, resume,
    ...) come from `RunOptions`."""

    shards: str = option("data/content", "Content shards from `prep images` (folder with shards.json).")
    style: str = option("", "The style image (any format OpenCV or Pillow decodes).", identity=True)
    vgg_weights: str = option(
        "", "VGG-19 weights in torchvision's layout (.pth/.pt/.safetensors), as for `train style`."
    )
    vgg_preprocess: str = option(
        "auto", "auto (from the file's sha256: torchvision or Caffe), torchvision or caffe.", identity=True
    )
    out: str = "runs/fast-style"
    size: int = option(256, "Training crops: size x size px (images are resized to a short side of it).",
                       identity=True)  # fmt: skip
    batch: int = 4
    lr: float = option(1e-3, "Adam learning rate.", identity=True)
    beta1: float = 0.9
    kimg: float = 160.0
    content_weight: float = option(1e5, "Weight of the content (feature) loss.", identity=True)
    style_weight: float = option(1e10, "Weight of the style (Gram matrix) loss.", identity=True)
    tv_weight: float = option(0.0, "Weight of the total-variation smoothness loss.", identity=True)
    temporal_weight: float = option(
        0.0,
        "Weight of the stability loss: the output of a slightly moved and noisy copy of an image must be "
        "the moved output (0: off; e.g. 2e5).",
        identity=True,
    )
    content_layers: str = option("relu2_2", "VGG-19 layers of the content loss.", identity=True)
    style_layers: str = option(
        "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", "VGG-19 layers of the style loss.", identity=True
    )
    style_size: int = option(0, "Short side of the style image in px (0: --size).", identity=True)
    width: int = option(32, "Channels of the network's first layer (Johnson et al.: 32).", identity=True)
    blocks: int = option(5, "Residual blocks (Johnson et al.: 5).", identity=True)
    antialias: bool = option(
        True,
        "Anti-aliased resampling (blurred /2 subsampling, bilinear x2): textures follow small motions "
        "instead of flickering; --no-antialias is Johnson et al.'s strided network.",
        identity=True,
    )
    max_shift: float = option(4.0, "Largest synthetic motion for the stability loss, in px.", identity=True)
    noise: float = option(0.02, "Std of the noise added to the moved copy (images in [0, 1]).", identity=True)
    ema_kimg: float = option(
        2.0, "Half-life of the network's moving average, in kimg (0: off).", identity=True
    )
    ema_rampup: float = option(
        0.05, "The EMA's half-life is at most this share of the images seen.", identity=True, cli=False
    )
    holdout: int = option(8, "Content images held out of training; stylised in each samples grid.")
    tick_kimg: float = 1.0
    snap_kimg: float = option(10.0, "Snapshot and samples grid every this many kimg.")
    data: str = option("auto", "Not used: content images are read from the shards by offset.", cli=False)
    memory_budget_gb: float = option(0.0, "Not used.", cli=False)


main = command(
    FastStyleOptions,
    "train.fast_style.trainer",
    "Train a feed-forward style network on content shards; `--resume auto` continues a run.",
)
