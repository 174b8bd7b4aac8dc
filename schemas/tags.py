"""The tag vocabulary file: `data/tags/vocab.json` (written by `prep tags`, read by core.vocab.load_vocab)."""

from __future__ import annotations

VOCAB_FILE: dict[str, str] = {
    "tags": "list[str]",  # ordered by count (descending), then by name
    "counts": "list[int]",  # posts carrying each tag, same order
    "hash": "str",  # sha256 hex of "\n".join(tags)
    "top": "int",  # --top
    "min_count": "int",  # --min-count
    "exclude_meta": "bool",  # --exclude-meta/--keep-meta
    "source_posts": "int",  # "ok" posts counted
}
