"""Misbehaviour the sample site can inject, deterministic given the site's seed.

Transient faults (`rate_*`) fire only on the FIRST request for a URL (chosen by hashing the seed,
the fault and the URL), so a client that retries always gets through; the per-post faults always
fire.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

# how many leading bytes of each format a corrupt body keeps: exactly its signature
_SIGNATURE_LEN = {b"\x89PNG": 8, b"\xff\xd8\xff": 3, b"GIF8": 6, b"RIFF": 12, b"BM": 2}


@dataclass(frozen=True)
class Faults:
    """What to get wrong; all off by default."""

    rate_429: float = 0.0  # share of URLs answered 429 + Retry-After on their first request
    retry_after: float = 1.0
    rate_5xx: float = 0.0  # 500/502/503 on the first request
    rate_drop: float = 0.0  # connection closed without a response, first request
    rate_truncate: float = 0.0  # image body cut short (Content-Length says the full size), first request
    rate_empty_page: float = 0.0  # a non-last API page comes back empty, first request
    rate_corrupt: float = 0.0  # image body: its signature, then garbage (full length, 200), first request
    html_posts: frozenset[int] = frozenset()  # image URLs always return an HTML page (200, text/html)
    offsite_posts: frozenset[int] = frozenset()  # image URLs always 302 to http://other-host.invalid/...
    missing_posts: frozenset[int] = frozenset()  # image URLs always 404
    corrupt_posts: frozenset[int] = frozenset()  # image URLs always serve signature + garbage
    wrong_md5_posts: frozenset[int] = frozenset()  # the API lists a wrong md5 (the file itself is fine)
    paging_cap: int = 200000  # refuse pid*limit > paging_cap with the real XML error body


def unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the given parts."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def fires(faults: Faults, seed: int, kind: str, key: str) -> bool:
    """Whether the transient fault `kind` (429, 5xx, drop, truncate, empty_page, corrupt) hits URL `key`."""
    rate = getattr(faults, f"rate_{kind}")
    return rate > 0 and unit(seed, kind, key) < rate


def corrupt_body(body: bytes, seed: int, key: str) -> bytes:
    """`body`'s format signature followed by garbage, as long as `body`: sniffs as an image, decodes as none."""
    keep = next((n for magic, n in _SIGNATURE_LEN.items() if body.startswith(magic)), 4)
    rng = random.Random(f"corrupt:{seed}:{key}")
    return body[:keep] + rng.randbytes(max(0, len(body) - keep))


def listed_md5(faults: Faults, post_id: int, md5: str) -> str:
    """The md5 the API lists for a post: the file's, or a wrong one for `wrong_md5_posts`."""
    if post_id in faults.wrong_md5_posts:
        return hashlib.md5(f"wrong:{md5}".encode()).hexdigest()
    return md5
