"""pix2pix training (line art -> colour): options, the per-step update, and the run loop on `train.engine`.

One step: D sees [real pairs; fake pairs] in ONE forward/backward (GroupNorm is per sample, so
mixing them changes nothing, and DDP sees one forward per backward); then G is updated with the
adversarial loss through a frozen, un-wrapped D plus lambda_L1 * L1. The learning rate is constant,
then decays linearly to zero over the last `decay_kimg` (default: the second half of the run),
computed from images seen at every step, so a resumed run has the same rate.

Randomness: the crop/flip and the simulated hints of step k come from a generator seeded by
(seed, k, rank); dropout uses the global torch RNG, saved in snapshots; batch k of the in-memory
data is a pure function of (seed, k, rank). So a resumed run repeats the uninterrupted one exactly
(memory data path; the streaming path resumes at the same batch index of the resampled stream).

Validation samples (held out by post, see `train.validation`) are removed from training: on the
memory path by index, on the streaming path by dropping their rows from each batch (batches may
then be slightly smaller than --batch; images seen counts the nominal batch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core.errors import UserError
from core.stats import summary_line, write_stats
from train.conditioning import TAG_MODES, Prep, check_plane_fits, condition_channels, prepare
from train.engine import data as engine_data
from train.engine import device as dev
from train.engine import distributed, rng, session
from train.engine.loop import Clock, new_counters, tick_line
from train.engine.options import RUN_IDENTITY, RunOptions, check_run_options
from train.engine.rundir import RunDir, load_snapshot
from train.engine.schedule import Every, kimg_label
from train.models.patchgan import PatchDiscriminator, default_layers, receptive_field
from train.models.unet import UNetGenerator, unet_depth
from train.validation import METRICS, evaluate, is_better, post_id_of, save_preview, split_by_post

KIND = "pix2pix"
COLOR, LINE, TAGS, META = "color.png", "line.png", "tags.npy", "json"
TICK_FIGURES = ("loss_d", "loss_g_gan", "loss_l1", "d_real", "d_fake")
"""Per-step figures averaged over each tick (what `train_step` returns)."""


@dataclass
class Pix2PixOptions(RunOptions):
    """Every option of `train pix2pix` (the CLI fills these; defaults live here only).

    The run-level options (batch, kimg, steps, intervals, data, device, resume, ...) come from
    `RunOptions`; those whose defaults differ for pix2pix are declared again here."""

    shards: str = "data/lineart"
    out: str = "runs/pix2pix"
    size: int = 96
    tags_mode: str = "plane"
    hints: bool = True
    vocab: str | None = None
    """vocab.json of the shards; default: <shards>/vocab.json, then <shards>/../tags/vocab.json."""
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 0
    """PatchGAN stride-2 blocks; 0: 2 (34 px patches) up to 128 px, 3 (70 px) above."""
    embed_dim: int = 16
    dropout: float = 0.5
    batch: int = 16
    lambda_l1: float = 100.0
    kimg: float = 200.0
    decay_kimg: float | None = None
    """Linear decay of the learning rate over the last N kimg; default: the second half of the run."""
    hint_none: float = 0.5
    max_hints: int = 6
    jitter: bool = True
    val_fraction: float = 0.05
    val_samples: int = 256
    val_kimg: float = 10.0
    best_metric: str = "l1"
    grid: int = 8
    tick_kimg: float = 2.0
    snap_kimg: float = 20.0


IDENTITY = (
    "size", "tags_mode", "hints", "ngf", "ndf", "d_layers", "embed_dim", "dropout", "lambda_l1", "hint_none",
    "max_hints", "jitter", "val_fraction", *RUN_IDENTITY,
)  # fmt: skip
"""Options that define the run: a resumed run takes them from its snapshot."""


def check_options(o: Pix2PixOptions) -> None:
    """UserError for values no run can use (named after the CLI option)."""
    if o.tags_mode not in TAG_MODES:
        raise UserError(f"--tags-mode must be one of {', '.join(TAG_MODES)}, not {o.tags_mode!r}")
    try:
        unet_depth(o.size)
    except ValueError as e:
        raise UserError(f"--size {o.size}: {e}; use e.g. 96 or 256") from e
    if o.best_metric not in METRICS:
        raise UserError(f"--best-metric must be one of {', '.join(METRICS)}, not {o.best_metric!r}")
    if o.best_metric == "hint_error" and not o.hints:
        raise UserError("--best-metric hint_error needs --hints")
    for name in ("ngf", "ndf", "grid", "embed_dim", "max_hints"):
        if getattr(o, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(o, name)}")
    if not 0 <= o.d_layers <= 5:
        raise UserError(f"--d-layers must be 0 (auto) to 5, not {o.d_layers}")
    if not 0 <= o.val_fraction < 1:
        raise UserError(f"--val-fraction must be in [0, 1), not {o.val_fraction}")
    if not 0 <= o.hint_none <= 1 or not 0 <= o.dropout < 1:
        raise UserError("--hint-none must be in [0, 1] and --dropout in [0, 1)")
    check_run_options(o)


# -- models ------------------------------------------------------------------------------------------


def build_models(o: dict[str, Any], vocab_size: int) -> tuple[UNetGenerator, PatchDiscriminator]:
    """G and D for resolved options (a dict as stored in snapshots)."""
    cin = condition_channels(o["tags_mode"])
    tag_dim = vocab_size if o["tags_mode"] == "embed" else 0
    g = UNetGenerator(
        cin, o["size"], o["ngf"], dropout=o["dropout"], tag_dim=tag_dim, embed_dim=o["embed_dim"]
    )
    layers = o["d_layers"] or default_layers(o["size"])
    d = PatchDiscriminator(cin + 3, layers, o["ndf"], tag_dim=tag_dim, embed_dim=o["embed_dim"])
    return g, d


def prep_of(o: dict[str, Any]) -> Prep:
    return Prep(o["size"], o["tags_mode"], o["hints"], o["hint_none"], o["max_hints"], o["jitter"])


@dataclass
class Nets:
    G: Any  # as trained (maybe DDP/compiled)
    D: Any  # D in its own step (maybe DDP/compiled)
    D_frozen: Any  # D inside G's step: never DDP, its weight gradients are not needed
    G_raw: UNetGenerator
    D_raw: PatchDiscriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def train_step(
    nets: Nets,
    cond: torch.Tensor,
    target: torch.Tensor,
    tags: torch.Tensor | None,
    lambda_l1: float,
    device: str,
    precision: str,
    nan: bool = False,
) -> torch.Tensor:
    """One D and one G update; returns [loss_d, loss_g_gan, loss_l1, D(real), D(fake)] on the device."""
    with dev.autocast(device, precision):
        fake = nets.G(cond, tags)
    nets.opt_d.zero_grad(set_to_none=True)
    tags2 = torch.cat([tags, tags]) if tags is not None else None
    with dev.autocast(device, precision):
        logits = nets.D(torch.cat([cond, cond]), torch.cat([target, fake.detach().to(target.dtype)]), tags2)
    l_real, l_fake = logits.float().chunk(2)
    loss_d = 0.5 * (bce(l_real, 1.0) + bce(l_fake, 0.0))
    if nan:
        loss_d = loss_d * float("nan")
    loss_d.backward()
    nets.opt_d.step()

    nets.opt_g.zero_grad(set_to_none=True)
    nets.D_raw.requires_grad_(False)
    with dev.autocast(device, precision):
        l_g = nets.D_frozen(cond, fake, tags)
    loss_gan = bce(l_g, 1.0)
    loss_l1 = (fake.float() - target).abs().mean()
    (loss_gan + lambda_l1 * loss_l1).backward()
    nets.D_raw.requires_grad_(True)
    nets.opt_g.step()
    with torch.no_grad():
        return torch.stack(
            [
                loss_d.detach(),
                loss_gan.detach(),
                loss_l1.detach(),
                torch.sigmoid(l_real).mean(),
                torch.sigmoid(l_fake).mean(),
            ]
        )


def lr_at(o: Pix2PixOptions, nimg: int, total_nimg: int) -> float:
    """Constant, then linear decay to 0 over the last decay_kimg (default: half the run)."""
    decay = o.decay_kimg * 1000 if o.decay_kimg is not None else total_nimg / 2
    if decay <= 0:
        return o.lr
    return o.lr * min(1.0, max(0.0, total_nimg - nimg) / decay)


def step_generator(seed: int, step: int, rank: int, device: str) -> torch.Generator:
    """The generator for step k's augmentation and hints: a pure function of (seed, k, rank)."""
    d = hashlib.sha256(f"pix2pix-step-{seed}-{step}-{rank}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(d[:8], "little") >> 1)


# -- data ------------------------------------------------------------------------------------------


def first_sample(src: Any) -> tuple[str, dict[str, bytes]]:
    from core.shards import iter_samples

    for shard, n in zip(src.shards, src.sizes, strict=True):
        if n:
            for key, files in iter_samples(shard):
                return key, dict(files)
    raise UserError(f"the shards in {src.folder} hold no samples; rebuild them with `prep canny`")


def open_lineart(o: Pix2PixOptions) -> tuple[Any, dict[str, Any], tuple[str, ...]]:
    """Check the shards hold what the options need; returns (source, first sample's json, fields)."""
    import numpy as np

    from train.loader import open_shards

    probe = open_shards(o.shards, fields=(META,))
    key, files = first_sample(probe)
    have = ", ".join(sorted(files))
    for f in (LINE, COLOR):
        if f not in files:
            raise UserError(
                f"the shards in {o.shards} have no {f} (sample {key} has: {have}); pix2pix needs line-art "
                "shards: build them with `prep canny --out data/lineart` and pass --shards data/lineart"
            )
    fields: tuple[str, ...] = (COLOR, LINE, META)
    if o.tags_mode != "none":
        if TAGS not in files:
            raise UserError(
                f"--tags-mode {o.tags_mode} needs tag vectors, but the shards in {o.shards} have no {TAGS} "
                f"(sample {key} has: {have}); rebuild them with `prep canny --vocab ...` or use --tags-mode none"
            )
        fields += (TAGS,)
        if np.load(__import__("io").BytesIO(files[TAGS]), allow_pickle=False).ndim != 1:
            raise UserError(f"{key}.{TAGS} in {o.shards} is not a 1-D tag vector; rebuild the shards")
    src = open_shards(o.shards, fields=fields)
    if src.channels[LINE] != 1:
        raise UserError(
            f"{key}.{LINE} in {o.shards} has {src.channels[LINE]} channels; line art must have one"
        )
    h, w = src.image_sizes[COLOR]
    if src.image_sizes[LINE] != (h, w) or h != w:
        raise UserError(f"the shards in {o.shards} hold {w}x{h} colour images and {src.image_sizes[LINE]} line art; "
                        "pix2pix needs square pairs of one size: rebuild them with `prep canny`")  # fmt: skip
    if h < o.size:
        raise UserError(
            f"--size {o.size} is larger than the shards' {h}x{h} images; use --size {h} or smaller, "
            f"or rebuild the shards with `prep canny --size {o.size}`"
        )
    return src, json.loads(files[META]), fields


def resolve_vocab(o: Pix2PixOptions, meta: dict[str, Any], tags_len: int) -> Any:
    """The shards' vocabulary (None for --tags-mode none), checked against the shards."""
    from core.vocab import load_vocab

    if o.tags_mode == "none":
        return None
    shards = Path(o.shards)
    folder = shards.parent if shards.is_file() else shards
    candidates = (
        [Path(o.vocab)] if o.vocab else [folder / "vocab.json", folder.parent / "tags" / "vocab.json"]
    )
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        raise UserError(
            f"--tags-mode {o.tags_mode} needs the vocabulary the shards were built with; none at "
            f"{', '.join(map(str, candidates))}: pass --vocab data/tags/vocab.json"
        )
    vocab = load_vocab(path)
    want = meta.get("vocab_hash")
    if want and want != vocab.hash:
        raise UserError(
            f"--vocab {path} (hash {vocab.hash[:12]}) is not the vocabulary the shards in {o.shards} were "
            f"built with (hash {want[:12]}); pass the right --vocab or rebuild the shards with `prep canny`"
        )
    if len(vocab) != tags_len:
        raise UserError(
            f"--vocab {path} has {len(vocab)} tags but the shards' tag vectors have {tags_len}; "
            "pass the right --vocab or rebuild the shards with `prep canny`"
        )
    return vocab


def _post_ids_by_scan(src: Any) -> tuple[list[str], list[int]]:
    """(keys, post ids) of every sample, in index order, reading only the json members."""
    from core.shards import iter_samples

    keys, posts = [], []
    for shard in src.shards:
        for key, files in iter_samples(shard):
            keys.append(key)
            posts.append(post_id_of(json.loads(files.get(META, b"{}")), key))
    return keys, posts


def _val_tensors_by_scan(src: Any, wanted: set[str], fields: tuple[str, ...]) -> dict[str, torch.Tensor]:
    from core.shards import iter_samples
    from train.data.decode import collate

    samples = []
    for shard in src.shards:
        for key, files in iter_samples(shard):
            if key in wanted:
                samples.append({"__key__": key, "__url__": shard, **files})
    batch = collate(samples, [f for f in fields if f != META], src.image_sizes, src.channels)
    return {f: v for f, v in batch.items() if isinstance(v, torch.Tensor)}


class StreamBatches:
    """Streaming batches with the validation posts' rows removed (empty batches are skipped)."""

    def __init__(self, batches: engine_data.Closing, val_posts: set[int]) -> None:
        self.it = batches
        self.val_posts = val_posts

    def close(self) -> None:
        self.it.close()

    def __next__(self) -> dict[str, Any]:
        while True:
            b = next(self.it)
            keep = [
                post_id_of(m, k) not in self.val_posts for m, k in zip(b[META], b["__key__"], strict=True)
            ]
            if all(keep):
                return b
            if any(keep):
                idx = torch.tensor([i for i, k in enumerate(keep) if k])
                return {
                    f: (v.index_select(0, idx) if isinstance(v, torch.Tensor) else v) for f, v in b.items()
                }


def load_data(
    o: Pix2PixOptions, src: Any, fields: tuple[str, ...], device: str, per_rank: int, d: Any, start_step: int
) -> tuple[Any, dict[str, torch.Tensor], str]:
    """(training batch iterator, validation tensors on the CPU, data mode)."""
    tensor_fields = tuple(f for f in fields if f != META)
    h, w = src.image_size
    if engine_data.memory_mode(o, src.num_samples * 4 * h * w, device):
        data = engine_data.load_memory(o, src, device, d, fields)
        posts = [post_id_of(m, k) for m, k in zip(data[META], data["__key__"], strict=True)]
        train_idx, val_idx = split_by_post(posts, o.val_fraction, o.seed)
        ti = torch.tensor(train_idx, dtype=torch.long, device=device)
        vi = torch.tensor(val_idx[: o.val_samples], dtype=torch.long, device=device)
        train = {f: data[f].index_select(0, ti) for f in tensor_fields}
        val = {f: data[f].index_select(0, vi).cpu() for f in tensor_fields} if val_idx else {}
        del data
        return engine_data.memory_batches(o, train, per_rank, d, start_step, tensor_fields), val, "memory"
    keys, posts = _post_ids_by_scan(src)
    train_idx, val_idx = split_by_post(posts, o.val_fraction, o.seed)
    val_posts = {posts[i] for i in val_idx}
    val = _val_tensors_by_scan(src, {keys[i] for i in val_idx[: o.val_samples]}, fields) if val_idx else {}
    stream = engine_data.stream_batches(o, src, per_rank, d, start_step, fields)
    return StreamBatches(stream, val_posts), val, "stream"


# -- snapshots -----------------------------------------------------------------------------------------


def snapshot_state(
    nets: Nets, o: Pix2PixOptions, counters: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The full training state (G, D, optimisers, RNG) plus `extra` (vocabulary, line art, best)."""
    return {**session.pair_snapshot(KIND, o, nets, counters), **extra}


@dataclass
class Colorizer:
    """A trained generator and what inference needs to feed it."""

    G: UNetGenerator
    options: dict[str, Any]
    vocab: Any  # core.vocab.Vocab or None
    lineart: dict[str, Any]  # how the training line art was made (low, high, invert)
    device: str


def load_colorizer(path: str | Path, device: str = "cpu") -> Colorizer:
    """The generator of a pix2pix snapshot (eval mode: no dropout) with its options and vocabulary."""
    from core.vocab import Vocab

    state = load_snapshot(path, KIND)
    opts = state["options"]
    vocab = (
        Vocab(tags=tuple(state["vocab"]["tags"]), hash=state["vocab"]["hash"]) if state.get("vocab") else None
    )
    g, _ = build_models(opts, len(vocab) if vocab else 0)
    try:
        g.load_state_dict(state["G"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path}: the generator weights do not fit the options stored with them ({e})") from e
    return Colorizer(g.to(device).eval(), opts, vocab, dict(state.get("lineart") or {}), device)


# -- the run -------------------------------------------------------------------------------------------


def train(o: Pix2PixOptions, explicit: set[str] | None = None) -> dict[str, Any]:
    """Run (or resume) a pix2pix run; returns the final summary (also in `<out>/_stats.json`)."""
    return session.run_training(o, explicit, check_options, _train)


def _train(o: Pix2PixOptions, explicit: set[str], d: distributed.Dist) -> dict[str, Any]:
    from core.atomic import atomic_write_json

    device = d.device
    precision = dev.resolve_precision(o.precision, device)
    run = RunDir(o.out, is_main=d.is_main)
    state = session.resolve_resume(o, run, explicit, IDENTITY, KIND)
    check_options(o)
    src, meta, fields = open_lineart(o)
    tags_len = 0
    if TAGS in fields:
        import io

        import numpy as np

        tags_len = int(np.load(io.BytesIO(first_sample(src)[1][TAGS]), allow_pickle=False).shape[0])
    vocab = resolve_vocab(o, meta, tags_len)
    if o.tags_mode == "plane":
        check_plane_fits(len(vocab), o.size)
    if state is not None and o.tags_mode != "none":
        saved = state.get("vocab") or {}
        if saved.get("hash") != vocab.hash:
            raise UserError(
                f"the vocabulary of {o.shards} (hash {vocab.hash[:12]}) does not match the checkpoint "
                f"{state['path']} (hash {str(saved.get('hash'))[:12]}); resume on the shards it was trained on"
            )
    per_rank = session.per_rank_batch(o.batch, d)
    lineart = {k: meta.get(k) for k in ("low", "high", "invert")}
    opts = dataclasses.asdict(o)
    d_layers = o.d_layers or default_layers(o.size)
    resolved = {
        "device": device, "precision": precision, "world_size": d.world_size, "unet_depth": unet_depth(o.size),
        "d_layers": d_layers, "d_receptive_field": receptive_field(d_layers), "vocab_size": len(vocab) if vocab else 0,
        "vocab_hash": vocab.hash if vocab else None, "lineart": lineart,
    }  # fmt: skip
    session.announce(KIND, o, run, state, resolved)
    if d.is_main and vocab is not None:
        atomic_write_json(run.path / "vocab.json", vocab.to_json())

    torch.manual_seed(o.seed)
    G, D = build_models(opts, len(vocab) if vocab else 0)
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
    counters = new_counters()
    best: dict[str, Any] = {"metric": o.best_metric, "value": None, "nimg": None}
    G.to(device)
    D.to(device)
    if state is not None:
        counters = session.restore_pair(state, G, D, opt_g, opt_d)
        best = dict(state.get("best") or best)
        run.truncate_stats(counters["nimg"])
    nets = Nets(*session.wrap_pair(d, G, D, o.compile), G, D, opt_g, opt_d)

    batches, val, data_mode = load_data(o, src, fields, device, per_rank, d, counters["step"])
    if state is not None:  # after loading: a DataLoader draws its base seed from the global RNG
        rng.restore(state["rng"])
    prep = prep_of(opts)
    grid_data = {f: t[: o.grid] for f, t in val.items()}
    extra = {"vocab": {"tags": list(vocab.tags), "hash": vocab.hash} if vocab else None, "lineart": lineart}

    def autocast_fn() -> Any:
        return dev.autocast(device, precision)

    clock = Clock(o, counters, nstats=len(TICK_FIGURES), desc="pix2pix", d=d)
    val_every = Every(o.val_kimg, counters["nimg"])
    last_snap = run.latest_snapshot() if state is not None else None
    last: dict[str, Any] = {}
    G.train()
    D.train()
    try:
        while not clock.done:
            batch = clock.next_batch(batches)
            gen = step_generator(o.seed, counters["step"], d.rank, device)
            tags = batch[TAGS].to(device, non_blocking=True) if TAGS in batch else None
            cond, target, _, _ = prepare(
                batch[COLOR].to(device, non_blocking=True), batch[LINE].to(device, non_blocking=True), tags,
                prep, gen, augment=True, hints="train",
            )  # fmt: skip
            lr = lr_at(o, counters["nimg"], clock.total_nimg)
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
            s = train_step(nets, cond, target, tags, o.lambda_l1, device, precision, nan=clock.nan_now)
            clock.observe(s[:3])
            clock.add(s)
            clock.advance()
            is_snap = clock.snap_due()
            is_val = (val_every.due(counters["nimg"]) or clock.done) and bool(val)
            if not (clock.tick_due() or is_snap or is_val):
                continue
            # -- tick: one synchronisation, a stats line, the NaN check ----------------------------------
            record, means = clock.tick(last_snap)
            record["lr"] = lr
            record.update(zip(TICK_FIGURES, means, strict=True))
            if is_val and d.is_main:
                label = kimg_label(counters["nimg"])
                metrics = evaluate(G, val, prep, device, autocast_fn)
                record.update({f"val_{k}": round(v, 6) for k, v in metrics.items()})
                save_preview(G, grid_data, prep, device, autocast_fn, run.path / f"val_{label}.png")
                value = metrics.get(o.best_metric)
                if value is not None and is_better(o.best_metric, value, best["value"]):
                    best = {"metric": o.best_metric, "value": value, "nimg": counters["nimg"]}
                    run_best(run, snapshot_state(nets, o, counters, {**extra, "best": best}), best)
                    record["best"] = True
            if is_snap and d.is_main:
                snap = snapshot_state(nets, o, counters, {**extra, "best": best})
                last_snap = run.save_snapshot(snap, counters["nimg"], keep=o.keep)
                record["snapshot"] = last_snap.name if last_snap else None
            if is_snap or is_val:
                clock.pause_done()  # validation and snapshot time is not training time
            run.append_stats(record)
            last = record
            clock.write(_tick_line(record))
    finally:
        clock.close()
        engine_data.close_batches(batches)
    summary = {
        **clock.summary(run.path, precision, last),
        "val_l1": last.get("val_l1"), "val_psnr": last.get("val_psnr"), "val_ssim": last.get("val_ssim"),
        "val_hint_error": last.get("val_hint_error"), "best": best, "data": data_mode,
        "val_samples": int(val[COLOR].shape[0]) if val else 0,
    }  # fmt: skip
    if d.is_main:
        write_stats(run.path, "train-pix2pix", summary)
        print(
            summary_line(
                "train pix2pix", summary, ["kimg", "steps", "img_per_s", "val_l1", "val_psnr", "out"]
            )
        )
    return summary


def run_best(run: RunDir, state: dict[str, Any], best: dict[str, Any]) -> Path:
    """Write `network-best.pt` (a full snapshot) and `best.json`, atomically."""
    import io

    from core.atomic import atomic_write_bytes, atomic_write_json

    buf = io.BytesIO()
    torch.save(state, buf)
    path = run.path / "network-best.pt"
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_json(run.path / "best.json", {**best, "snapshot": path.name})
    return path


def _tick_line(r: dict[str, Any]) -> str:
    losses = f"loss_d {r['loss_d']:.3f} gan {r['loss_g_gan']:.3f} l1 {r['loss_l1']:.4f}"
    val = (
        f"val l1 {r['val_l1']:.4f} psnr {r['val_psnr']:.2f} ssim {r['val_ssim']:.3f}"
        if "val_l1" in r
        else None
    )
    return tick_line(r, losses, val)
