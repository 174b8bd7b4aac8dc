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


def load_vocab(path: str | Path) -> Vocab:
    """Read and check a vocab.json (a folder means `<folder>/vocab.json`); UserError if unusable."""
    from schemas.tags import VOCAB_FILE
    from schemas.validate import SchemaError, validate_sample_json

    path = Path(path)
    if path.is_dir():
        path = path / VOCAB_NAME
    if not path.is_file():
        raise UserError(f"--vocab {path}: no such file; build the vocabulary first with `prep tags`")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        validate_sample_json(obj, VOCAB_FILE, where=str(path))
    except (json.JSONDecodeError, UnicodeDecodeError, SchemaError) as e:
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
