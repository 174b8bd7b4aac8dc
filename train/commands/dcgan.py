"""`train dcgan`: train the 96x96 anime-face DCGAN (or 32/64/128) on face shards.

Its options, each declared once (default, help, whether it defines the run); the command is built
from them. Light module: no torch (the CLI imports it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from train.commands.common import command
from train.engine.options import RunOptions, option


@dataclass
class DCGANOptions(RunOptions):
    """Every option of `train dcgan`; the run-level ones (batch, kimg, intervals, data, device,
    resume, ...) come from `RunOptions`."""

    shards: str = option("data/faces", "Face shards from `prep faces` (folder with shards.json).")
    out: str = "runs/dcgan"
    size: int = option(
        96, "Image size: 32, 64, 96 or 128; shards of a larger size are shrunk on load.", identity=True
    )
    nz: int = option(100, "Latent dimensions.", identity=True)
    ngf: int = option(64, "Generator width (channels of its last hidden layer).", identity=True)
    ndf: int = option(64, "Discriminator width (channels of its first layer).", identity=True)
    loss: str = option("bce", "GAN loss: bce (non-saturating, with logits) or hinge.", identity=True)
    d_act: str = option("lrelu", "Discriminator activation: lrelu or elu.", identity=True)
    flip: bool = option(True, "Random horizontal flips of the real images.", identity=True)
    ema_kimg: float = option(10.0, "Half-life of the generator's EMA, in kimg.", identity=True)
    ema_rampup: float = option(
        0.05, "The EMA's half-life is at most this share of the images seen.", identity=True, cli=False
    )
    snap_kimg: float = option(50.0, "Snapshot, grid and SWD every this many kimg.")
    grid: int = option(64, "Images in reals.png and each fakes grid.")
    swd_n: int = option(1024, "Images per side for the sliced Wasserstein distance (0: off).")
    inception: str | None = option(
        None, "TorchScript Inception weights (e.g. inception-2015-12-05.pt) for FID/KID."
    )
    fid_n: int = option(5000, "Images per side for FID/KID.")


main = command(
    DCGANOptions,
    "train.dcgan",
    "Train a DCGAN on face shards; `--resume auto` continues where a run stopped.",
)
