"""pix2pix's data: checks that line-art shards hold what the options need, the vocabulary they were
built with, and the training/validation split by post on both data paths.

Validation samples (held out by post, see `train.validation`) are removed from training: on the
memory path by index, on the streaming path by dropping their rows from each batch (batches may
then be slightly smaller than --batch; images seen counts the nominal batch).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from core.errors import UserError
from train.commands.pix2pix import Pix2PixOptions
from train.engine import data as engine_data
from train.validation import post_id_of, split_by_post

COLOR, LINE, TAGS, META = "color.png", "line.png", "tags.npy", "json"


def first_sample(src: Any) -> tuple[str, dict[str, bytes]]:
    from train.data.source import iter_samples  # local paths and URLs

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
        if np.load(io.BytesIO(files[TAGS]), allow_pickle=False).ndim != 1:
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
    from train.data.source import iter_samples  # local paths and URLs

    keys, posts = [], []
    for shard in src.shards:
        for key, files in iter_samples(shard):
            keys.append(key)
            posts.append(post_id_of(json.loads(files.get(META, b"{}")), key))
    return keys, posts


def _val_tensors_by_scan(src: Any, wanted: set[str], fields: tuple[str, ...]) -> dict[str, torch.Tensor]:
    from train.data.decode import collate
    from train.data.source import iter_samples  # local paths and URLs

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


def tags_length(src: Any, fields: tuple[str, ...]) -> int:
    """Length of the shards' tag vectors (0 without tags)."""
    import numpy as np

    if TAGS not in fields:
        return 0
    return int(np.load(io.BytesIO(first_sample(src)[1][TAGS]), allow_pickle=False).shape[0])
