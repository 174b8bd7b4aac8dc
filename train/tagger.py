"""`train tagger`: a multi-label classifier of the most frequent post tags, trained on face crops.

Each face sample's JSON carries its post's tags (schemas/faces.py). The tags kept are the most
frequent ones (at most `--tags`) that have at least `--min-positives` faces with and without them
in the training part; faces of a held-out share of the posts (`--val-fraction`, split by post id so
that faces of one post never sit on both sides) give the average precision per tag in stats.jsonl
and `_stats.json`. The network is a small CNN (stride-2 3x3 convolutions, BatchNorm, ReLU, global
average pooling, one logit per tag); `load_tagger` and `Tagger.score` serve `train directions`.
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
from core.stats import summary_line, write_stats
from train.engine import distributed, rng, session
from train.engine.loop import Clock, new_counters, tick_line
from train.engine.options import RUN_IDENTITY, RunOptions, check_run_options
from train.engine.rundir import RunDir, load_snapshot

KIND = "tagger"
TICK_FIGURES = ("loss",)


@dataclass
class TaggerOptions(RunOptions):
    """Every option of `train tagger` (the run-level ones from `RunOptions`)."""

    shards: str = "data/faces"
    out: str = "runs/tagger"
    tags: int = 32
    min_positives: int = 10
    width: int = 32
    val_fraction: float = 0.1
    mixup: bool = True
    batch: int = 64
    lr: float = 1e-3
    beta1: float = 0.9
    kimg: float = 100.0
    tick_kimg: float = 2.0
    snap_kimg: float = 10.0
    data: str = "memory"
    precision: str = "fp32"


IDENTITY = ("tags", "min_positives", "width", "val_fraction", "mixup", *RUN_IDENTITY)


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

    @torch.no_grad()
    def score(self, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Tag probabilities [N, T] (CPU, float32) of images in [-1, 1] (any size: resized to the tagger's)."""
        out = []
        for i in range(0, images.shape[0], batch):
            x = images[i : i + batch].to(self.device).float()
            if x.shape[-1] != self.size or x.shape[-2] != self.size:
                x = F.interpolate(
                    x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
                )
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


def read_faces(
    o: TaggerOptions, device: str, d: distributed.Dist
) -> tuple[torch.Tensor, list[list[str]], list[bool]]:
    """(uint8 images [N, 3, H, W] on `device`, tags per face, held out per face)."""
    from train.engine import data as engine_data
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


def train(o: TaggerOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a tagger run; returns the final summary (also in `<out>/_stats.json`)."""
    return session.run_training(o, explicit, check_options, _train)


def _train(o: TaggerOptions, explicit: set[str], d: distributed.Dist) -> dict[str, Any]:
    from train.engine import data as engine_data

    device = d.device
    run = RunDir(o.out, is_main=d.is_main)
    state = session.resolve_resume(o, run, explicit, IDENTITY, KIND)
    images, tag_lists, held = read_faces(o, device, d)
    train_idx = [i for i, h in enumerate(held) if not h]
    val_idx = [i for i, h in enumerate(held) if h]
    if not train_idx or not val_idx:
        raise UserError(
            f"{o.shards}: {len(images)} faces leave {len(train_idx)} for training and {len(val_idx)} held out; "
            "use more faces or another --val-fraction"
        )
    tags = (
        list(state["tags"])
        if state is not None
        else select_tags([tag_lists[i] for i in train_idx], o.tags, o.min_positives)
    )
    if not tags:
        raise UserError(
            f"{o.shards}: no tag has {o.min_positives} training faces with it and without it; "
            "lower --min-positives or use more faces"
        )
    col = {t: j for j, t in enumerate(tags)}
    labels = torch.zeros(len(tag_lists), len(tags))
    for i, ts in enumerate(tag_lists):
        for t in ts:
            if t in col:
                labels[i, col[t]] = 1.0
    labels = labels.to(device)
    ti, vi = torch.tensor(train_idx, device=device), torch.tensor(val_idx, device=device)
    train_data = {"png": images.index_select(0, ti), "y": labels.index_select(0, ti)}
    val_images, val_labels = images.index_select(0, vi), labels.index_select(0, vi)
    size = int(images.shape[-1])
    per_rank = session.per_rank_batch(o.batch, d)
    resolved = {"device": device, "world_size": d.world_size, "tags": tags,
                "train_faces": len(train_idx), "val_faces": len(val_idx)}  # fmt: skip
    session.announce(KIND, o, run, state, resolved)

    torch.manual_seed(o.seed)
    net = TaggerNet(size, len(tags), o.width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
    counters = new_counters()
    gen = torch.Generator(device=device).manual_seed(o.seed * 1000 + d.rank + 1)
    if state is not None:
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        counters = dict(state["counters"])
        gen.set_state(state["noise"])
        rng.restore(state["rng"])
        run.truncate_stats(counters["nimg"])
    model = distributed.wrap_ddp(d, net)
    batches = engine_data.memory_batches(o, train_data, per_rank, d, counters["step"], ("png", "y"))
    clock = Clock(o, counters, nstats=len(TICK_FIGURES), desc="tagger", d=d)
    last_snap = Path(state["path"]) if state is not None else None
    last: dict[str, Any] = {}
    net.train()
    try:
        while not clock.done:
            batch = clock.next_batch(batches)
            opt.zero_grad(set_to_none=True)
            xb, yb = prepare(batch["png"], gen), batch["y"]
            if o.mixup:
                xb, yb = mixup(xb, yb, gen)
            loss = F.binary_cross_entropy_with_logits(model(xb), yb)
            if clock.nan_now:
                loss = loss * float("nan")
            loss.backward()
            opt.step()
            clock.observe(loss.detach())
            clock.add(loss.detach()[None])
            clock.advance()
            is_snap = clock.snap_due()
            if not (clock.tick_due() or is_snap):
                continue
            record, means = clock.tick(last_snap)
            record["loss"] = round(means[0], 4)
            if is_snap and d.is_main:
                record.update(evaluate(net, val_images, val_labels, tags))
                snap = {
                    "kind": KIND, "format": session.SNAPSHOT_FORMAT, "options": _asdict(o), "tags": tags,
                    "size": size, "net": session.cpu_state(net.state_dict()), "opt": opt.state_dict(),
                    "counters": dict(counters), "rng": rng.capture(), "noise": gen.get_state(),
                    "ap": record["ap"],
                }  # fmt: skip
                last_snap = run.save_snapshot(snap, counters["nimg"], keep=o.keep)
                record["snapshot"] = last_snap.name if last_snap else None
            if is_snap:
                clock.pause_done()
            run.append_stats(record)
            last = record
            extra = f"val mAP {record['map']}" if "map" in record else None
            clock.write(tick_line(record, f"loss {record['loss']:.4f}", extra))
    finally:
        clock.close()
    summary = clock.summary(run.path, "fp32", last)
    summary.update({k: last.get(k) for k in ("map", "val_loss", "ap")})
    summary["tags"] = tags
    if d.is_main:
        write_stats(run.path, "train-tagger", summary)
        print(summary_line("train tagger", summary, ["kimg", "steps", "img_per_s", "map", "snapshot", "out"]))
    return summary


def _asdict(o: TaggerOptions) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(o)
