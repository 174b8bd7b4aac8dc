"""The tag vocabulary (`data/tags/vocab.json`) and multi-hot tag vectors over it.

The vocabulary is the `top` most frequent tags of the crawl's "ok" posts (each post counts a
tag once), keeping only tags seen in at least `min_count` posts and, by default, leaving out
meta tags (tags about the file or the post rather than the picture, see `is_meta`). Tags are
ordered by count, descending, then by name, so the same manifest always gives the same
vocabulary. Its `hash` is the sha256 of the ordered tags joined by newlines (UTF-8): a trainer or
a shard can record it and later check that it uses the vocabulary it was built with.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.vocab import VOCAB_NAME, Vocab, load_vocab, vocab_hash

__all__ = ["VOCAB_NAME", "Vocab", "build_vocab", "is_meta", "load_vocab", "run_tags", "vocab_hash"]

# Danbooru's "meta" category as far as it shows up on safebooru: resolution, commentary,
# translation, bad or missing source data, requests and file variants. General tags that
# describe what is drawn (signature, watermark, artist_name, dated, ...) are kept on purpose.
META_TAGS: frozenset[str] = frozenset(
    {
        "lowres",
        "highres",
        "absurdres",
        "incredibly_absurdres",
        "huge_filesize",
        "wide_image",
        "tall_image",
        "commentary",
        "translated",
        "hard_translated",
        "partially_translated",
        "check_translation",
        "translation_request",
        "bad_id",
        "bad_link",
        "bad_source",
        "md5_mismatch",
        "tagme",
        "duplicate",
        "revision",
        "resized",
        "upscaled",
        "downscaled",
        "third-party_edit",
        "jpeg_artifacts",
        "non-web_source",
        "official_art",
        "paid_reward_available",
        "variant_set",
        "animated",
        "animated_gif",
        "video",
        "sound",
        "has_audio",
        "flash",
        "source_larger",
        "source_smaller",
        "image_sample",
    }
)
# Families: every *_commentary (commentary_request, english_commentary, ...), every *_request
# (artist_request, character_request, ...), bad_*_id, *_sample (pixiv_sample, twitter_sample, ...).
_META_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r".*_commentary(_request)?$"),
    re.compile(r"^commentary_.*"),
    re.compile(r".*_request$"),
    re.compile(r"^bad_.*_id$"),
    re.compile(r".*_sample$"),
)


def is_meta(tag: str) -> bool:
    """Whether `tag` is a meta tag (about the file or the post, not the picture)."""
    return tag in META_TAGS or any(p.match(tag) for p in _META_PATTERNS)


def count_tags(tag_lists: Iterable[Iterable[str]]) -> tuple[Counter[str], int]:
    """Count in how many posts each tag occurs; returns (counts, number of posts)."""
    counts: Counter[str] = Counter()
    n = 0
    for tags in tag_lists:
        counts.update({t for t in tags if t})
        n += 1
    return counts, n


def select_vocab(
    counts: Counter[str], top: int, min_count: int, exclude_meta: bool
) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """The vocabulary's (tag, count) pairs, ordered, and counters of what was left out."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept: list[tuple[str, int]] = []
    dropped = Counter(meta=0, below_min_count=0, beyond_top=0)
    for tag, n in ranked:
        if exclude_meta and is_meta(tag):
            dropped["meta"] += 1
        elif n < min_count:
            dropped["below_min_count"] += 1
        elif len(kept) >= top:
            dropped["beyond_top"] += 1
        else:
            kept.append((tag, n))
    return kept, dict(dropped)


def build_vocab(
    tag_lists: Iterable[Iterable[str]], top: int = 1000, min_count: int = 2, exclude_meta: bool = True
) -> tuple[Vocab, dict[str, Any]]:
    """Build the vocabulary from each post's tags; returns it and its statistics."""
    counts, n_posts = count_tags(tag_lists)
    kept, dropped = select_vocab(counts, top, min_count, exclude_meta)
    tags = tuple(t for t, _ in kept)
    meta = {"top": top, "min_count": min_count, "exclude_meta": exclude_meta, "source_posts": n_posts}
    vocab = Vocab(tags=tags, counts=tuple(n for _, n in kept), meta=meta)
    stats = {
        "source_posts": n_posts,
        "distinct_tags": len(counts),
        "vocab_size": len(tags),
        "dropped": dropped,
        "vocab_hash": vocab.hash,
    }
    return vocab, stats


def read_post_tags(src: str | Path) -> list[list[str]]:
    """The tag lists of the "ok" posts of a crawl manifest (`<src>/posts.parquet` or the file)."""
    from prep.posts import read_posts

    return [r["tags"] or [] for r in read_posts(src, ["tags"])]


def run_tags(
    src: str | Path, out: str | Path, top: int, min_count: int, exclude_meta: bool
) -> dict[str, Any]:
    """`prep tags`: build `<out>/vocab.json` and `<out>/_stats.json`; returns the statistics."""
    from core.atomic import atomic_write_json, ensure_out_dir
    from core.stats import write_stats

    if top < 1:
        raise UserError(f"--top {top}: must be at least 1")
    if min_count < 1:
        raise UserError(f"--min-count {min_count}: must be at least 1")
    t0 = time.perf_counter()
    tag_lists = read_post_tags(src)  # UserError when no post is usable
    vocab, stats = build_vocab(tag_lists, top=top, min_count=min_count, exclude_meta=exclude_meta)
    if not len(vocab):
        raise UserError(
            f"no tag is in at least --min-count {min_count} of the {stats['source_posts']} posts; lower --min-count"
        )
    out = ensure_out_dir(out)
    atomic_write_json(out / VOCAB_NAME, vocab.to_json())
    covered = sum(1 for tags in tag_lists if any(t in vocab.index for t in tags))
    stats.update(
        top=top,
        min_count=min_count,
        exclude_meta=exclude_meta,
        posts_with_vocab_tag=covered,
        seconds=round(time.perf_counter() - t0, 3),
    )
    write_stats(out, "tags", stats)
    return stats
