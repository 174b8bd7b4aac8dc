"""`train tagger`: a multi-label classifier of the most frequent post tags, trained on face crops.

Each face sample's JSON carries its post's tags (schemas/faces.py). The tags kept are the most
frequent ones (at most `--tags`) that have at least `--min-positives` faces with and without them
in the training part; faces of a held-out share of the posts (`--val-fraction`, split by post id so
that faces of one post never sit on both sides) give the average precision per tag in stats.jsonl
and `_stats.json`. The network is a small CNN (stride-2 3x3 convolutions, BatchNorm, ReLU, global
average pooling, one logit per tag). `TaggerTrainer` fills in the engine's one training loop
(train/engine/training_loop.py: resume, snapshots, ticks, stats.jsonl are the engine's);
`load_tagger` and `Tagger.score` serve `train directions`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError
from train.commands.tagger import TaggerOptions
from train.engine import data as engine_data
from train.engine import training_loop
from train.engine.distributed import Dist
from train.engine.loop import tick_line
from train.engine.options import check_run_options
from train.engine.rundir import load_snapshot
from train.engine.trainer import Parts, Trainer

KIND = "tagger"
TICK_FIGURES = ("loss",)

__all__ = ["TaggerOptions", "TaggerTrainer", "load_tagger", "train"]


def check_options(o: TaggerOptions) -> None:
    for name in ("tags", "min_positives", "width"):
        if getattr(o, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(o, name)}")
    if not 0 < o.val_fraction < 1:
        raise UserError(f"--val-fraction must be between 0 and 1 (exclusive), not {o.val_fraction}")
    if o.data != "memory":
        raise UserError(f"--data must be memory for the tagger (face shards fit in memory), not {o.data!r}")
    if o.precision != "fp32":
        raise UserError(f"--precision must be fp32 for the tagger, not {o.precision!r}")
    check_run_options(o)


# -- the network -------------------------------------------------------------------------------------


class TaggerNet(nn.Module):
    """3x3 convolutions halving the resolution down to about 4 px, then average pooling and a linear head."""

    def __init__(self, size: int, n_tags: int, width: int = 32) -> None:
        super().__init__()
        self.size, self.n_tags = size, n_tags
        layers: list[nn.Module] = [
            nn.Conv2d(3, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        ch, s = width, size
        while s > 4:
            nxt = min(ch * 2, width * 8)
            layers += [nn.Conv2d(ch, nxt, 3, 2, 1, bias=False), nn.BatchNorm2d(nxt), nn.ReLU(True)]
            ch, s = nxt, (s + 1) // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch, n_tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], [B, 3, size, size] -> logits [B, n_tags]."""
        return self.head(self.features(x).mean((2, 3)))


@dataclass
class Tagger:
    net: TaggerNet
    tags: list[str]
    size: int
    device: str
    ap: dict[str, float | None]

    @torch.inference_mode()
    def score(self, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Tag probabilities [N, T] (CPU, float32) of images in [-1, 1] (any size: resized to the tagger's)."""
        out = []
        for i in range(0, images.shape[0], batch):
            x = images[i : i + batch].to(self.device).float()
            if x.shape[-1] != self.size or x.shape[-2] != self.size:
                x = F.interpolate(
                    x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
                )
            if self.device == "cpu":  # channels_last, the layout `for_inference` gives the weights
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(torch.sigmoid(self.net(x)).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, len(self.tags))


def load_tagger(path: str | Path, device: str = "cpu") -> Tagger:
    """The tagger of a `train tagger` snapshot (a file or its run directory), in eval mode."""
    state = load_snapshot(path, KIND)
    o = state["options"]
    net = TaggerNet(state["size"], len(state["tags"]), o["width"])
    try:
        net.load_state_dict(state["net"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path}: the tagger weights do not fit its options ({e}); retrain it") from e
    return Tagger(
        net.to(device).eval(), list(state["tags"]), state["size"], device, dict(state.get("ap", {}))
    )


# -- data and metrics ------------------------------------------------------------------------------


def is_held_out(post_id: int, fraction: float) -> bool:
    """Whether a post's faces are held out (a hash of the post id: stable across runs and machines)."""
    h = int.from_bytes(hashlib.sha256(f"tagger-val-{post_id}".encode()).digest()[:8], "little")
    return h / 2**64 < fraction


def select_tags(tag_lists: list[list[str]], n: int, min_positives: int) -> list[str]:
    """The n most frequent tags with at least `min_positives` faces with and without them (ties by name)."""
    counts = Counter(t for tags in tag_lists for t in set(tags))
    total = len(tag_lists)
    ok = [(c, t) for t, c in counts.items() if c >= min_positives and total - c >= min_positives]
    return [t for _, t in sorted(ok, key=lambda ct: (-ct[0], ct[1]))[:n]]


def average_precision(scores: torch.Tensor, labels: torch.Tensor) -> list[float | None]:
    """Average precision per column (None where a column has no positive)."""
    out: list[float | None] = []
    for j in range(scores.shape[1]):
        y = labels[:, j][torch.argsort(scores[:, j], descending=True, stable=True)]
        pos = float(y.sum())
        if pos == 0:
            out.append(None)
            continue
        hits = torch.cumsum(y, 0)
        precision = hits / torch.arange(1, len(y) + 1, dtype=torch.float32)
        out.append(round(float((precision * y).sum() / pos), 4))
    return out


def prepare(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> [-1, 1], flipped left-right at random when `gen` is given."""
    x = x.float().div_(127.5).sub_(1.0)
    if gen is not None:
        mask = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def mixup(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image blended with another of the batch (weight uniform in [0, 1]), labels alike: generated
    faces are often such blends, and the tagger's scores on them then still follow what they show."""
    lam = torch.rand(x.shape[0], 1, generator=gen, device=gen.device).to(x.device)
    perm = torch.randperm(x.shape[0], generator=gen, device=gen.device).to(x.device)
    return lam[:, :, None, None] * x + (1 - lam[:, :, None, None]) * x[perm], lam * y + (1 - lam) * y[perm]


@torch.no_grad()
def evaluate(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, tags: list[str]) -> dict[str, Any]:
    """Held-out loss, average precision per tag and their mean."""
    net.eval()
    logits = torch.cat([net(prepare(images[i : i + 256], None)) for i in range(0, images.shape[0], 256)])
    net.train()
    loss = float(F.binary_cross_entropy_with_logits(logits, labels))
    ap = dict(zip(tags, average_precision(logits.float().cpu(), labels.float().cpu()), strict=True))
    known = [v for v in ap.values() if v is not None]
    return {"val_loss": round(loss, 4), "map": round(sum(known) / len(known), 4) if known else None, "ap": ap}


def read_faces(o: TaggerOptions, device: str, d: Dist) -> tuple[torch.Tensor, list[list[str]], list[bool]]:
    """(uint8 images [N, 3, H, W] on `device`, tags per face, held out per face)."""
    from train.loader import open_shards

    src = open_shards(o.shards, fields=("png", "json"))
    if src.channels["png"] != 3:
        raise UserError(
            f"the shards in {o.shards} hold {src.channels['png']}-channel images; the tagger needs RGB"
        )
    data = engine_data.load_memory(o, src, device, d, ("png", "json"))
    tags, held = [], []
    for key, meta in zip(data["__key__"], data["json"], strict=True):
        if not isinstance(meta, dict) or not isinstance(meta.get("tags"), list):
            raise UserError(
                f"{o.shards}: sample {key} has no tags in its JSON; make the shards with `prep faces`"
            )
        tags.append([str(t) for t in meta["tags"]])
        held.append(is_held_out(int(meta.get("post_id", 0)), o.val_fraction))
    return data["png"], tags, held


# -- the run ---------------------------------------------------------------------------------------


class TaggerTrainer(Trainer):
    """One network ("net") and one Adam ("opt"); flips and mixup from a saved per-rank generator."""

    kind = KIND
    figures = TICK_FIGURES
    guarded = 1
    summary_keys = ("kimg", "steps", "img_per_s", "map", "snapshot", "out")
    check = staticmethod(check_options)

    def prepare(self) -> dict[str, Any]:
        """Read the faces, split them by post, pick the tags (a resumed run keeps its own)."""
        o, device = self.o, self.device
        images, tag_lists, held = read_faces(o, device, self.d)
        train_idx = [i for i, h in enumerate(held) if not h]
        val_idx = [i for i, h in enumerate(held) if h]
        if not train_idx or not val_idx:
            raise UserError(
                f"{o.shards}: {len(images)} faces leave {len(train_idx)} for training and {len(val_idx)} "
                "held out; use more faces or another --val-fraction"
            )
        if self.state is not None:
            self.tags = list(self.state["tags"])
        else:
            self.tags = select_tags([tag_lists[i] for i in train_idx], o.tags, o.min_positives)
        if not self.tags:
            raise UserError(
                f"{o.shards}: no tag has {o.min_positives} training faces with it and without it; "
                "lower --min-positives or use more faces"
            )
        col = {t: j for j, t in enumerate(self.tags)}
        labels = torch.zeros(len(tag_lists), len(self.tags))
        for i, ts in enumerate(tag_lists):
            for t in ts:
                if t in col:
                    labels[i, col[t]] = 1.0
        labels = labels.to(device)
        ti, vi = torch.tensor(train_idx, device=device), torch.tensor(val_idx, device=device)
        self.train_data = {"png": images.index_select(0, ti), "y": labels.index_select(0, ti)}
        self.val_images, self.val_labels = images.index_select(0, vi), labels.index_select(0, vi)
        self.size = int(images.shape[-1])
        self.ap: dict[str, float | None] = dict(self.state.get("ap", {})) if self.state is not None else {}
        return {"tags": self.tags, "train_faces": len(train_idx), "val_faces": len(val_idx)}

    def build(self) -> Parts:
        o, device, rank = self.o, self.device, self.d.rank
        net = TaggerNet(self.size, len(self.tags), o.width).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))

        def noise(step: int) -> torch.Generator:
            return torch.Generator(device=device).manual_seed(o.seed * 1000 + rank + 1 + 7919 * step)

        return Parts(nets={"net": net}, opts={"opt": opt}, trained=("net",), generators={"noise": noise})

    def batches(self, start_step: int) -> Any:
        return engine_data.memory_batches(
            self.o, self.train_data, self.per_rank, self.d, start_step, ("png", "y")
        )

    def step(self, batch: Any, nan: bool) -> torch.Tensor:
        gen, opt = self.nets.gen["noise"], self.nets.opt["opt"]
        x, y = prepare(batch["png"], gen), batch["y"]
        if self.o.mixup:
            x, y = mixup(x, y, gen)
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(self.nets["net"](x), y)
        if nan:
            loss = loss * float("nan")
        loss.backward()
        opt.step()
        return loss.detach()[None]

    def evaluate(self, record: dict[str, Any]) -> None:
        """Held-out loss and average precision per tag (at each snapshot)."""
        record.update(evaluate(self.nets.raw["net"], self.val_images, self.val_labels, self.tags))
        self.ap = record["ap"]

    def extra_state(self) -> dict[str, Any]:
        return {"tags": self.tags, "size": self.size, "ap": self.ap}

    def summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return {
            "map": last.get("map"),
            "val_loss": last.get("val_loss"),
            "ap": last.get("ap"),
            "tags": self.tags,
        }

    def tick_line(self, r: dict[str, Any]) -> str:
        return tick_line(
            r, f"loss {r['loss']:.4f}", f"val mAP {r['map']}" if r.get("map") is not None else None
        )


def train(o: TaggerOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a tagger run; returns the final summary (also in `<out>/_stats.json`)."""
    return training_loop.run(TaggerTrainer, o, explicit)
