"""`train tagger`: a multi-label tag classifier on face shards (for `train directions`).

Its options, each declared once (default, help, whether it defines the run); the command is built
from them. Light module: no torch (the CLI imports it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from train.commands.common import command
from train.engine.options import RunOptions, option


@dataclass
class TaggerOptions(RunOptions):
    """Every option of `train tagger`; the run-level ones come from `RunOptions`."""

    shards: str = option("data/faces", "Face shards from `prep faces` (their JSON holds the post's tags).")
    out: str = "runs/tagger"
    tags: int = option(32, "How many of the most frequent tags to learn (at most).", identity=True)
    min_positives: int = option(
        10, "A tag is learnt only with this many training faces with it and without it.", identity=True
    )
    width: int = option(32, "Channels of the first convolution (doubling, up to 8x).", identity=True)
    val_fraction: float = option(
        0.1, "Share of the posts held out for average precision per tag.", identity=True
    )
    mixup: bool = option(
        True,
        "Train on blends of two faces with blended labels (keeps scores meaningful on blends).",
        identity=True,
    )
    batch: int = 64
    lr: float = option(1e-3, "Adam learning rate.", identity=True)
    beta1: float = 0.9
    kimg: float = 100.0
    tick_kimg: float = 2.0
    snap_kimg: float = option(10.0, "Snapshot and held-out average precision every this many kimg.")
    workers: int = option(2, "Processes decoding the shards into memory.")
    # the faces are decoded once into memory and the tagger is small: no choice to offer here
    data: str = option("memory", "memory only.", cli=False)
    memory_budget_gb: float = option(0.0, "unused.", cli=False)
    precision: str = option("fp32", "fp32 only.", cli=False)
    compile: bool = option(False, "unused.", cli=False)


main = command(
    TaggerOptions,
    "train.tagger",
    "Train a tag classifier on face crops and their post tags; held-out AP per tag in stats.jsonl.",
)
