"""The sample site's posts and their files: metadata drawn from the seed, originals, samples, thumbnails.

Originals are PNG or JPEG (some PNGs have alpha, some PNGs are named `.jpg`); a post wider than
`SAMPLE_WIDTH` also has a JPEG sample; every post has a JPEG thumbnail. Rendered files are cached
for all sites in the process (tests start many with the same seed).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from crawl import synthetic
from crawl.sample_site.faults import Faults, listed_md5, unit

SAMPLE_WIDTH = 850  # safebooru makes a sample when the original is wider than this
THUMB_SIZE = 150


@dataclass
class SiteConfig:
    """What the site serves."""

    n_posts: int = 200
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    latency_s: float = 0.0  # added to every request
    first_id: int = 1000
    duplicate_every: int = 0  # every Nth post reuses an earlier post's exact bytes (0 = never)
    image_size: tuple[int, int] | None = None  # (width, height) for all posts; None = varied sizes


@dataclass(frozen=True)
class SitePost:
    """One post as the site holds it."""

    id: int
    directory: int
    stem: str  # sha1-like hex name of the file
    named_ext: str  # the extension in the URL
    true_ext: str  # what the bytes really are
    alpha: bool
    source_id: int  # the post whose picture this is (itself, or an earlier one for duplicates)
    width: int
    height: int
    tags: tuple[str, ...]  # unescaped
    change: int
    owner: str
    score: int | None
    source: str
    comment_count: int
    legacy: bool  # served in the 2023 15-key JSON shape

    @property
    def image(self) -> str:
        return f"{self.stem}.{self.named_ext}"

    @property
    def sample_size(self) -> tuple[int, int] | None:
        if self.width <= SAMPLE_WIDTH:
            return None
        return SAMPLE_WIDTH, max(1, round(self.height * SAMPLE_WIDTH / self.width))

    @property
    def thumb_size(self) -> tuple[int, int]:
        scale = min(1.0, THUMB_SIZE / max(self.width, self.height))
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))


_CACHE_MAX = 256
_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple[Any, ...], threading.Lock] = {}


def _cached(key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
    """LRU-cached `make()`; threads wait only for others rendering the same key."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        data = make()
        with _cache_lock:
            _cache[key] = data
            while len(_cache) > _CACHE_MAX:
                _cache.popitem(last=False)
            _key_locks.pop(key, None)
    return data


class Catalogue:
    """The posts of one site by id and by file stem, and the md5 of each original once rendered."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.posts: dict[int, SitePost] = {}
        self._by_stem: dict[str, int] = {}
        self._md5: dict[int, str] = {}
        self._legacy_below = config.first_id + config.n_posts // 5
        self._next_id = config.first_id
        self.add(config.n_posts)

    def add(self, n: int) -> list[int]:
        """Publish `n` new posts with higher ids than any before; returns their ids."""
        new = []
        with self.lock:
            for _ in range(n):
                post = self._make_post(self._next_id)
                self.posts[post.id] = post
                self._by_stem[post.stem] = post.id
                new.append(post.id)
                self._next_id += 1
        return new

    def snapshot(self) -> list[SitePost]:
        """All posts now (safe to use while others are added)."""
        with self.lock:
            return list(self.posts.values())

    def by_stem(self, stem: str) -> SitePost | None:
        with self.lock:
            return self.posts.get(self._by_stem.get(stem, -1))

    def _make_post(self, post_id: int) -> SitePost:
        cfg = self.config
        seed = cfg.seed
        index = post_id - cfg.first_id
        source_id = post_id
        if cfg.duplicate_every > 0 and index > 0 and index % cfg.duplicate_every == 0:
            source_id = self.posts[post_id - 1].source_id
        if source_id != post_id:
            src = self.posts[source_id]
            true_ext, alpha, size = src.true_ext, src.alpha, (src.width, src.height)
        else:
            true_ext = synthetic.file_ext(post_id, seed)
            alpha = true_ext == "png" and unit(seed, post_id, "alpha") < 0.15
            size = cfg.image_size or self._default_size(post_id)
        plan = synthetic.plan_illustration(source_id, seed, size)
        named_ext = true_ext
        if true_ext == "png" and unit(seed, post_id, "lie") < 0.08:
            named_ext = "jpg"  # the extension lies: PNG bytes under a .jpg name
        u = unit(seed, post_id, "meta")
        source = ""
        if u < 0.4:
            source = f"https://twitter.com/artist{post_id % 97}/status/{17 * 10**17 + post_id}"
        elif u < 0.7:
            source = f"https://www.pixiv.net/artworks/{9 * 10**7 + post_id}"
        elif u < 0.75:
            source = "うたわれるもの　公式ビジュアルコレクション"
        return SitePost(
            id=post_id,
            directory=post_id // 1024 + 1,
            stem=hashlib.sha1(f"sample-site:{seed}:{post_id}".encode()).hexdigest(),
            named_ext=named_ext,
            true_ext=true_ext,
            alpha=alpha,
            source_id=source_id,
            width=plan.width,
            height=plan.height,
            tags=plan.tags,
            change=1_600_000_000 + 3600 * post_id + int(unit(seed, post_id, "change") * 3000),
            owner="gelbooru" if unit(seed, post_id, "owner") < 0.2 else "danbooru",
            score=None if unit(seed, post_id, "score") < 0.3 else int(unit(seed, post_id, "s") * 30),
            source=source,
            comment_count=int(unit(seed, post_id, "comments") * 4) if u > 0.9 else 0,
            legacy=post_id < self._legacy_below,
        )

    def _default_size(self, post_id: int) -> tuple[int, int]:
        w, h = synthetic.default_size(post_id, self.config.seed)
        if unit(self.config.seed, post_id, "big") < 0.1:  # some originals large enough for a sample
            scale = 1.0 + max(SAMPLE_WIDTH + 50 - w, 0) / w + unit(self.config.seed, post_id, "bs") * 0.5
            w, h = round(w * scale), round(h * scale)
        return w, h

    # -- files -------------------------------------------------------------------------------
    def original(self, post: SitePost) -> bytes:
        """The original file's bytes."""
        seed, size = self.config.seed, (post.width, post.height)
        key = ("orig", seed, post.source_id, size, post.true_ext, post.alpha)

        def make() -> bytes:
            image = synthetic.draw(synthetic.plan_illustration(post.source_id, seed, size))
            return synthetic.encode(image, post.true_ext, alpha=post.alpha)

        data = _cached(key, make)
        if post.id not in self._md5:
            md5 = hashlib.md5(data).hexdigest()
            with self.lock:
                self._md5[post.id] = md5
        return data

    def variant(self, post: SitePost, kind: str) -> bytes:
        """A JPEG "sample" or "thumb" of the original."""
        import cv2
        import numpy as np

        target = post.sample_size if kind == "sample" else post.thumb_size
        assert target is not None
        key = (kind, self.config.seed, post.source_id, (post.width, post.height), post.true_ext, post.alpha)

        def make() -> bytes:
            buf = np.frombuffer(self.original(post), np.uint8)
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if img.ndim == 3 and img.shape[2] == 4:  # flatten alpha onto white
                a = img[:, :, 3:4].astype(np.float32) / 255
                img = (img[:, :, :3] * a + 255 * (1 - a)).astype(np.uint8)
            img = cv2.resize(img, target, interpolation=cv2.INTER_AREA)
            _ok, out = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            return out.tobytes()

        return _cached(key, make)

    def render_missing(self, posts: list[SitePost]) -> None:
        """Render the files whose md5 a listing needs, a few at a time (OpenCV releases the GIL)."""
        missing = [p for p in posts if p.id not in self._md5]
        if len(missing) > 1:
            with ThreadPoolExecutor(min(4, len(missing))) as pool:
                list(pool.map(self.original, missing))

    def md5(self, post: SitePost) -> str:
        """The md5 of the original's bytes (the API's `hash`, unless a fault lists a wrong one)."""
        if post.id not in self._md5:
            self.original(post)
        return self._md5[post.id]

    def listed_md5(self, post: SitePost) -> str:
        """The md5 the API shows for the post."""
        return listed_md5(self.config.faults, post.id, self.md5(post))
