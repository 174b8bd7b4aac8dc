"""A local, deterministic safebooru.org look-alike for tests, demos and benchmarks.

`SampleSite` serves synthetic illustrations (crawl.synthetic) through the same URLs and API
bodies as the real site, so that the crawler can be exercised end to end without the internet:

- `GET /index.php?page=dapi&s=post&q=index&tags=...&limit=N&pid=P[&json=1]`: posts sorted by id
  descending. `tags` are ANDed; `-tag` excludes; `id:<N`, `id:>N`, `id:<=N`, `id:>=N`, `id:N` and
  `rating:X` filter; other meta tags (`sort:...`, `score:...`) are ignored. `limit` defaults to 100
  and is capped at 1000; `&id=N` asks for one post.
  - `json=1`: a JSON array in the 2025 22-key shape (urls, `directory` an int, `score` sometimes
    null), except the oldest fifth of the first `n_posts` posts, which come in the 2023 15-key
    shape (no urls, `directory` a string). Like PHP's json_encode, `/` is written `\\/` and
    non-ASCII as `\\uXXXX`. An empty result is an EMPTY BODY (0 bytes), as on the real site.
  - otherwise XML: `<posts count=".." offset=".."><post .../></posts>` with gelbooru-0.2 attributes.
  - Tags are stored HTML-escaped, as on the real site (`>_<` is served as `&gt;_&lt;`, `'` as
    `&#039;`); in XML the escaped text is XML-escaped once more. Clients must html-unescape.
  - Errors (deep paging past `paging_cap`, bad `limit`/`pid`) are the real XML body
    `<response success="false" reason="..."/>` with status 200, even with json=1.
- `/images/{directory}/{image}`: the original (PNG or JPEG; some PNGs have alpha, some PNGs are
  named `.jpg`); `/samples/{directory}/sample_{stem}.jpg` (width > 850 only) and
  `/thumbnails/{directory}/thumbnail_{stem}.jpg`. `hash` is the md5 of the original's bytes.

Transient faults (`Faults`) fire only on the FIRST request for a URL (chosen by hashing the seed
and the URL), so a client that retries always gets through; permanent faults always fire.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

from crawl import synthetic

SAMPLE_WIDTH = 850  # safebooru makes a sample when the original is wider than this
THUMB_SIZE = 150
MAX_LIMIT = 1000
ERROR_ABUSE = "Search error: API limited due to abuse."
ERROR_PARAMS = "Search error: invalid parameters."
_META = re.compile(r"^-?([a-z]+):(.*)$")
_ID_FILTER = re.compile(r"^(<=|>=|<|>|=)?(\d+)$")


@dataclass(frozen=True)
class Faults:
    """Misbehaviour to inject; all off by default and deterministic given the site's seed."""

    rate_429: float = 0.0  # share of URLs answered 429 + Retry-After on their first request
    retry_after: float = 1.0
    rate_5xx: float = 0.0  # 500/502/503 on the first request
    rate_drop: float = 0.0  # connection closed without a response, first request
    rate_truncate: float = 0.0  # image body cut short (Content-Length says the full size), first request
    rate_empty_page: float = 0.0  # a non-last API page comes back empty, first request
    html_posts: frozenset[int] = frozenset()  # image URLs always return an HTML page (200, text/html)
    offsite_posts: frozenset[int] = frozenset()  # image URLs always 302 to http://other-host.invalid/...
    missing_posts: frozenset[int] = frozenset()  # image URLs always 404
    paging_cap: int = 200000  # refuse pid*limit > paging_cap with the real XML error body


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
class RequestRecord:
    """One request the site answered (status 0: the connection was dropped without a response)."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass(frozen=True)
class _Post:
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


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the given parts."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def _php_escape(tag: str) -> str:
    """htmlspecialchars(ENT_QUOTES), as the real site stores tags."""
    return html.escape(tag, quote=True).replace("&#x27;", "&#039;")


def _php_json(obj: Any) -> bytes:
    """json_encode's default output: compact, ASCII-only, slashes escaped."""
    return json.dumps(obj, separators=(",", ":")).replace("/", "\\/").encode("ascii")


# Rendered files are shared by all sites in the process (tests start many with the same seed).
_CACHE_MAX = 256
_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple[Any, ...], threading.Lock] = {}


def _cached(key: tuple[Any, ...], make: Any) -> bytes:
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


class SampleSite:
    """A threaded HTTP server on `host:port` (0 = any free port) serving a safebooru look-alike."""

    def __init__(self, config: SiteConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SiteConfig()
        self.host = host
        self.port = port
        self.url = ""
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._posts: dict[int, _Post] = {}
        self._by_stem: dict[str, int] = {}
        self._md5: dict[int, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._legacy_below = self.config.first_id + self.config.n_posts // 5
        self._next_id = self.config.first_id
        self._add(self.config.n_posts)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a background thread; returns the base URL."""
        if self._server is not None:
            return self.url
        handler = type("_BoundHandler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sample-site", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SampleSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt (for the CLI)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    # -- content -----------------------------------------------------------------------------
    @property
    def post_ids(self) -> list[int]:
        """All post ids, ascending."""
        with self._lock:
            return sorted(self._posts)

    def add_posts(self, n: int) -> list[int]:
        """Publish `n` new posts with higher ids than any before; returns their ids."""
        return self._add(n)

    def post_meta(self, post_id: int) -> dict[str, Any]:
        """The post as the JSON API shows it (22-key shape), for tests."""
        return self._json_post(self._posts[post_id], legacy=False)

    def original_bytes(self, post_id: int) -> bytes:
        """The original file's bytes, as served at the post's file_url."""
        return self._original(self._posts[post_id])

    def reset_log(self) -> None:
        """Forget the request log (the first-attempt bookkeeping is kept)."""
        with self._lock:
            self.requests.clear()

    def _add(self, n: int) -> list[int]:
        new = []
        with self._lock:
            for _ in range(n):
                post = self._make_post(self._next_id)
                self._posts[post.id] = post
                self._by_stem[post.stem] = post.id
                new.append(post.id)
                self._next_id += 1
        return new

    def _make_post(self, post_id: int) -> _Post:
        cfg = self.config
        seed = cfg.seed
        index = post_id - cfg.first_id
        source_id = post_id
        if cfg.duplicate_every > 0 and index > 0 and index % cfg.duplicate_every == 0:
            source_id = self._posts[post_id - 1].source_id
        if source_id != post_id:
            src = self._posts[source_id]
            true_ext, alpha, size = src.true_ext, src.alpha, (src.width, src.height)
        else:
            true_ext = synthetic.file_ext(post_id, seed)
            alpha = true_ext == "png" and _unit(seed, post_id, "alpha") < 0.15
            size = cfg.image_size or self._default_size(post_id)
        plan = synthetic.plan_illustration(source_id, seed, size)
        named_ext = true_ext
        if true_ext == "png" and _unit(seed, post_id, "lie") < 0.08:
            named_ext = "jpg"  # the extension lies: PNG bytes under a .jpg name
        u = _unit(seed, post_id, "meta")
        source = ""
        if u < 0.4:
            source = f"https://twitter.com/artist{post_id % 97}/status/{17 * 10**17 + post_id}"
        elif u < 0.7:
            source = f"https://www.pixiv.net/artworks/{9 * 10**7 + post_id}"
        elif u < 0.75:
            source = "うたわれるもの　公式ビジュアルコレクション"
        return _Post(
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
            change=1_600_000_000 + 3600 * post_id + int(_unit(seed, post_id, "change") * 3000),
            owner="gelbooru" if _unit(seed, post_id, "owner") < 0.2 else "danbooru",
            score=None if _unit(seed, post_id, "score") < 0.3 else int(_unit(seed, post_id, "s") * 30),
            source=source,
            comment_count=int(_unit(seed, post_id, "comments") * 4) if u > 0.9 else 0,
            legacy=post_id < self._legacy_below,
        )

    def _default_size(self, post_id: int) -> tuple[int, int]:
        w, h = synthetic.default_size(post_id, self.config.seed)
        if _unit(self.config.seed, post_id, "big") < 0.1:  # some originals large enough for a sample
            scale = 1.0 + max(SAMPLE_WIDTH + 50 - w, 0) / w + _unit(self.config.seed, post_id, "bs") * 0.5
            w, h = round(w * scale), round(h * scale)
        return w, h

    def _original(self, post: _Post) -> bytes:
        seed, size = self.config.seed, (post.width, post.height)
        key = ("orig", seed, post.source_id, size, post.true_ext, post.alpha)

        def make() -> bytes:
            image = synthetic.draw(synthetic.plan_illustration(post.source_id, seed, size))
            return synthetic.encode(image, post.true_ext, alpha=post.alpha)

        data = _cached(key, make)
        if post.id not in self._md5:
            md5 = hashlib.md5(data).hexdigest()
            with self._lock:
                self._md5[post.id] = md5
        return data

    def _variant(self, post: _Post, kind: str) -> bytes:
        """A JPEG sample or thumbnail of the original."""
        import cv2
        import numpy as np

        target = post.sample_size if kind == "sample" else post.thumb_size
        assert target is not None
        key = (kind, self.config.seed, post.source_id, (post.width, post.height), post.true_ext, post.alpha)

        def make() -> bytes:
            buf = np.frombuffer(self._original(post), np.uint8)
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if img.ndim == 3 and img.shape[2] == 4:  # flatten alpha onto white
                a = img[:, :, 3:4].astype(np.float32) / 255
                img = (img[:, :, :3] * a + 255 * (1 - a)).astype(np.uint8)
            img = cv2.resize(img, target, interpolation=cv2.INTER_AREA)
            _ok, out = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            return out.tobytes()

        return _cached(key, make)

    def _render_missing(self, posts: list[_Post]) -> None:
        """Render the files whose md5 a listing needs, a few at a time (OpenCV releases the GIL)."""
        missing = [p for p in posts if p.id not in self._md5]
        if len(missing) > 1:
            with ThreadPoolExecutor(min(4, len(missing))) as pool:
                list(pool.map(self._original, missing))

    def _md5_of(self, post: _Post) -> str:
        if post.id not in self._md5:
            self._original(post)
        return self._md5[post.id]

    # -- API ---------------------------------------------------------------------------------
    def _urls(self, post: _Post) -> dict[str, str]:
        base = self.url
        sample = post.sample_size
        file_url = f"{base}/images/{post.directory}/{post.image}"
        return {
            "preview_url": f"{base}/thumbnails/{post.directory}/thumbnail_{post.stem}.jpg",
            "sample_url": f"{base}/samples/{post.directory}/sample_{post.stem}.jpg" if sample else file_url,
            "file_url": file_url,
        }

    def _json_post(self, post: _Post, legacy: bool) -> dict[str, Any]:
        sample = post.sample_size
        common = {
            "hash": self._md5_of(post),
            "height": post.height,
            "id": post.id,
            "image": post.image,
            "change": post.change,
            "owner": post.owner,
            "parent_id": 0,
            "rating": "general",
            "sample": sample is not None,
            "sample_height": sample[1] if sample else 0,
            "sample_width": sample[0] if sample else 0,
            "score": post.score,
            "tags": " ".join(_php_escape(t) for t in post.tags),
            "width": post.width,
        }
        if legacy:
            return {"directory": str(post.directory), **common, "score": post.score or 0}
        urls = self._urls(post)
        return {
            **urls,
            "directory": post.directory,
            "hash": common["hash"],
            "width": post.width,
            "height": post.height,
            "id": post.id,
            "image": post.image,
            "change": post.change,
            "owner": post.owner,
            "parent_id": 0,
            "rating": "general",
            "sample": common["sample"],
            "sample_height": common["sample_height"],
            "sample_width": common["sample_width"],
            "score": post.score,
            "tags": common["tags"],
            "source": post.source,
            "status": "active",
            "has_notes": False,
            "comment_count": post.comment_count,
        }

    def _xml_post(self, post: _Post) -> str:
        urls = self._urls(post)
        sw, sh = post.sample_size or (post.width, post.height)
        tw, th = post.thumb_size
        tags = " " + " ".join(_php_escape(t) for t in post.tags) + " "
        created = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(post.change))
        a = quoteattr
        return (
            f"<post height={a(str(post.height))} score={a('' if post.score is None else str(post.score))}"
            f' file_url={a(urls["file_url"])} parent_id="" sample_url={a(urls["sample_url"])}'
            f"  sample_width={a(str(sw))} sample_height={a(str(sh))} preview_url={a(urls['preview_url'])}"
            f' rating="general" tags={a(tags)} id={a(str(post.id))} width={a(str(post.width))}'
            f'  change={a(str(post.change))} md5={a(self._md5_of(post))} creator_id="{post.id % 9973}"'
            f' has_children="false" created_at={a(created)} status="active" source={a(post.source)}'
            f' has_notes="false" has_comments={a("true" if post.comment_count else "false")}'
            f" preview_width={a(str(tw))} preview_height={a(str(th))}/>"
        )

    def search(self, query: str) -> list[int]:
        """Ids matching a tag query, newest first (the API's order)."""
        include: list[str] = []
        exclude: list[str] = []
        checks: list[Any] = []
        for term in query.split():
            neg = term.startswith("-")
            m = _META.match(term)
            if m:
                name, value = m.group(1), m.group(2)
                if name == "id":
                    f = _ID_FILTER.match(value)
                    if f:
                        op, n = f.group(1) or "=", int(f.group(2))
                        checks.append((op, n, neg))
                elif name == "rating":
                    ok = value.lower() in ("general", "g", "safe", "s")
                    checks.append(("rating", ok, neg))
                continue  # other meta tags are ignored, as the real site does with unknown ones
            (exclude if neg else include).append(html.unescape(term[1:] if neg else term))
        with self._lock:
            posts = list(self._posts.values())
        out = []
        for post in posts:
            tags = set(post.tags)
            if not all(t in tags for t in include) or any(t in tags for t in exclude):
                continue
            if all(_check(post, c) for c in checks):
                out.append(post.id)
        return sorted(out, reverse=True)

    def _api(self, q: dict[str, str], first: bool, fault_key: str) -> tuple[int, str, bytes]:
        try:
            limit = int(q.get("limit", "100") or 100)
            pid = int(q.get("pid", "0") or 0)
        except ValueError:
            return 200, "text/xml", _error_body(ERROR_PARAMS)
        if limit < 0 or pid < 0:
            return 200, "text/xml", _error_body(ERROR_PARAMS)
        limit = min(limit, MAX_LIMIT)
        if pid * limit > self.config.faults.paging_cap:
            return 200, "text/xml", _error_body(ERROR_ABUSE)
        ids = self.search(q.get("tags", ""))
        if q.get("id", "").isdigit():  # `&id=N`: that one post, as the real API allows
            ids = [i for i in ids if i == int(q["id"])]
        page = ids[pid * limit : (pid + 1) * limit]
        more = (pid + 1) * limit < len(ids)
        if page and more and first and self._fires("empty_page", fault_key):
            page = []
        posts = [self._posts[i] for i in page]
        self._render_missing(posts)
        if q.get("json") == "1":
            if not posts:
                return 200, "application/json; charset=utf-8", b""
            body = [self._json_post(p, p.legacy) for p in posts]
            return 200, "application/json; charset=utf-8", _php_json(body)
        xml = "".join(self._xml_post(p) + "\n" for p in posts).rstrip("\n")
        head = f'<?xml version="1.0" encoding="UTF-8"?><posts count="{len(ids)}" offset="{pid * limit}">'
        return 200, "text/xml; charset=utf-8", (head + xml + "</posts>").encode("utf-8")

    # -- faults ------------------------------------------------------------------------------
    def _fires(self, kind: str, key: str) -> bool:
        rate = getattr(self.config.faults, f"rate_{kind}")
        return rate > 0 and _unit(self.config.seed, kind, key) < rate

    def _first_attempt(self, key: str) -> bool:
        with self._lock:
            n = self._attempts.get(key, 0)
            self._attempts[key] = n + 1
        return n == 0

    def _log(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(RequestRecord(time.time(), method, path, query, status))

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, h: _Handler) -> None:
        """Answer one request (called on the server's handler threads)."""
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if self.config.latency_s > 0:
            time.sleep(self.config.latency_s)
        key = f"{parts.path}?{parts.query}"
        first = self._first_attempt(key)
        reply = self._dispatch(parts.path, query, first, key)
        self._log(h.command, parts.path, query, reply.status)  # before answering: clients may look at once
        _send(h, reply)

    def _dispatch(self, path: str, q: dict[str, str], first: bool, key: str) -> _Reply:
        faults = self.config.faults
        if first and self._fires("429", key):
            retry = f"{faults.retry_after:g}"
            return _Reply(429, "text/html", _html("429 Too Many Requests"), {"Retry-After": retry})
        if first and self._fires("5xx", key):
            code = (500, 502, 503)[int(_unit(self.config.seed, "code", key) * 3)]
            return _Reply(code, "text/html", _html(f"{code} Server Error"))
        if first and self._fires("drop", key):
            return _Reply(0, drop=True)
        if path == "/index.php":
            if (q.get("page"), q.get("s"), q.get("q")) != ("dapi", "post", "index"):
                return _Reply(404, "text/html", _html("404 Not Found"))
            status, ctype, body = self._api(q, first, key)
            return _Reply(status, ctype, body)
        if path in ("/", "/index.html"):
            return _Reply(200, "text/html", _html(f"Sample site: {len(self._posts)} posts"))
        post, variant = self._image_target(path)
        if post is None:
            return _Reply(404, "text/html", _html("404 Not Found"))
        if post.id in faults.missing_posts:
            return _Reply(404, "text/html", _html("404 Not Found"))
        if post.id in faults.html_posts:
            return _Reply(200, "text/html; charset=utf-8", _html("Image not available"))
        if post.id in faults.offsite_posts:
            location = f"http://other-host.invalid{path}"
            return _Reply(302, "text/html", _html("302 Found"), {"Location": location})
        if variant == "image":
            body = self._original(post)
            ctype = "image/png" if post.named_ext == "png" else "image/jpeg"  # by name, like nginx
        else:
            body = self._variant(post, variant)
            ctype = "image/jpeg"
        if first and self._fires("truncate", key):
            return _Reply(200, ctype, body, truncate=True)
        return _Reply(200, ctype, body)

    def _image_target(self, path: str) -> tuple[_Post | None, str]:
        parts = path.split("/")
        if len(parts) != 4 or parts[0] != "":
            return None, ""
        _, kind, directory, name = parts
        stem, _, ext = name.rpartition(".")
        if kind == "images":
            variant = "image"
        elif kind == "samples" and stem.startswith("sample_") and ext == "jpg":
            variant, stem = "sample", stem[len("sample_") :]
        elif kind == "thumbnails" and stem.startswith("thumbnail_") and ext == "jpg":
            variant, stem = "thumb", stem[len("thumbnail_") :]
        else:
            return None, ""
        with self._lock:
            post = self._posts.get(self._by_stem.get(stem, -1))
        if post is None or str(post.directory) != directory:
            return None, ""
        if variant == "image" and ext != post.named_ext:
            return None, ""
        if variant == "sample" and post.sample_size is None:
            return None, ""
        return post, variant


def _check(post: _Post, check: tuple[Any, ...]) -> bool:
    op, value, neg = check
    if op == "rating":
        ok = bool(value)
    else:
        i = post.id
        ok = {"<": i < value, ">": i > value, "<=": i <= value, ">=": i >= value, "=": i == value}[op]
    return ok != neg


def _error_body(reason: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<response success="false" reason={quoteattr(reason)}/>'
    ).encode()


def _html(title: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode()


@dataclass
class _Reply:
    status: int  # 0: drop the connection without answering
    ctype: str = "text/html"
    body: bytes = b""
    headers: dict[str, str] | None = None
    truncate: bool = False  # send half the body, then close
    drop: bool = False


def _send(h: _Handler, reply: _Reply) -> None:
    try:
        if reply.drop:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        body = reply.body
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (reply.headers or {}).items():
            h.send_header(k, v)
        if reply.truncate:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body[: len(body) // 2] if reply.truncate else body)
        h.wfile.flush()
        if reply.truncate:
            h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:  # the client went away
        h.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    site: SampleSite
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
    disable_nagle_algorithm = True  # else headers and body in two writes cost a 40 ms delayed ACK

    def version_string(self) -> str:
        return "nginx"

    def do_GET(self) -> None:
        self.site.handle(self)

    def do_HEAD(self) -> None:
        self.site.handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the site keeps its own log
        pass
