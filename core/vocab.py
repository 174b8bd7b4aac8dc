"""The tag vocabulary (`vocab.json`) and multi-hot tag vectors over it: the contract between
`prep tags`/`prep canny`, which write it, and the trainers, which read it.

Its `hash` is the sha256 of the ordered tags joined by newlines (UTF-8): a trainer or a shard can
record it and later check that it uses the vocabulary it was built with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError

if TYPE_CHECKING:
    import numpy as np

VOCAB_NAME = "vocab.json"


def vocab_hash(tags: Iterable[str]) -> str:
    """sha256 (hex) of the ordered tags joined by newlines."""
    return hashlib.sha256("\n".join(tags).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Vocab:
    """An ordered tag vocabulary; `vector(tags)` gives a sample's multi-hot vector over it."""

    tags: tuple[str, ...]
    counts: tuple[int, ...] = ()
    hash: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.tags)})
        if not self.hash:
            object.__setattr__(self, "hash", vocab_hash(self.tags))

    def __len__(self) -> int:
        return len(self.tags)

    def vector(self, tags: Iterable[str]) -> np.ndarray:
        """Multi-hot uint8 vector of length len(self); tags not in the vocabulary are ignored."""
        import numpy as np

        v = np.zeros(len(self.tags), np.uint8)
        idx = [i for t in tags if (i := self.index.get(t)) is not None]
        v[idx] = 1
        return v

    def unknown(self, tags: Iterable[str]) -> list[str]:
        """The tags (in the given order, without repeats) that are not in the vocabulary."""
        return list(dict.fromkeys(t for t in tags if t not in self.index))

    def tags_of(self, vector: Any) -> list[str]:
        """The inverse of `vector`: the tags whose entries are non-zero, in vocabulary order."""
        import numpy as np

        v = np.asarray(vector).reshape(-1)
        if v.shape[0] != len(self.tags):
            raise ValueError(f"tag vector has length {v.shape[0]}, the vocabulary {len(self.tags)}")
        return [self.tags[i] for i in np.flatnonzero(v)]

    def to_json(self) -> dict[str, Any]:
        """The vocab.json object (schemas.tags.VOCAB_FILE)."""
        return {**self.meta, "tags": list(self.tags), "counts": list(self.counts), "hash": self.hash}


# The fields of vocab.json and their types: schemas.tags.VOCAB_FILE spells the same in the schema
# language (core is a leaf and does not import schemas; tests/test_tags.py keeps the two in step).
VOCAB_FIELDS: dict[str, tuple[type, type | None]] = {
    "tags": (list, str),
    "counts": (list, int),
    "hash": (str, None),
    "top": (int, None),
    "min_count": (int, None),
    "exclude_meta": (bool, None),
    "source_posts": (int, None),
}


def _is(value: Any, typ: type) -> bool:
    return isinstance(value, typ) and (typ is bool or not isinstance(value, bool))


def check_vocab_fields(obj: Any) -> None:
    """ValueError naming the first field of a vocab.json object that is missing, extra or mistyped."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if extra := sorted(set(obj) - set(VOCAB_FIELDS)):
        raise ValueError(f"unexpected fields {extra}")
    for name, (typ, item) in VOCAB_FIELDS.items():
        if name not in obj:
            raise ValueError(f"missing field {name!r}")
        value = obj[name]
        if not _is(value, typ) or (item is not None and not all(_is(v, item) for v in value)):
            raise ValueError(
                f"field {name!r}: expected {typ.__name__}" + (f" of {item.__name__}" if item else "")
            )


def load_vocab(path: str | Path) -> Vocab:
    """Read and check a vocab.json (a folder means `<folder>/vocab.json`); UserError if unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / VOCAB_NAME
    if not path.is_file():
        raise UserError(f"--vocab {path}: no such file; build the vocabulary first with `prep tags`")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        check_vocab_fields(obj)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"--vocab {path}: not a tag vocabulary ({e}); rebuild it with `prep tags`") from e
    tags = tuple(obj["tags"])
    if len(set(tags)) != len(tags) or len(obj["counts"]) != len(tags):
        raise UserError(
            f"--vocab {path}: repeated tags or counts of the wrong length; rebuild it with `prep tags`"
        )
    if vocab_hash(tags) != obj["hash"]:
        raise UserError(
            f"--vocab {path}: its hash does not match its tags (edited?); rebuild it with `prep tags`"
        )
    meta = {k: v for k, v in obj.items() if k not in ("tags", "counts", "hash")}
    return Vocab(tags=tags, counts=tuple(obj["counts"]), hash=obj["hash"], meta=meta)
