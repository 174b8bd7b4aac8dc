"""The sample site's HTTP server: lifecycle, the request log, routing and faults, sending answers.

Routes: the API at `/index.php` (crawl.sample_site.api); `/images/{directory}/{image}` (the
original), `/samples/{directory}/sample_{stem}.jpg` (width > 850 only) and
`/thumbnails/{directory}/thumbnail_{stem}.jpg`; `/` is a small HTML page; anything else is 404.
Image content types go by the file's name, like nginx.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crawl.sample_site.api import api_reply
from crawl.sample_site.catalogue import Catalogue, SiteConfig, SitePost
from crawl.sample_site.faults import corrupt_body, fires, unit
from crawl.sample_site.render import Reply, html_page, json_post


@dataclass(frozen=True)
class RequestRecord:
    """One request the site answered (status 0: the connection was dropped without a response)."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    status: int


class SampleSite:
    """A threaded HTTP server on `host:port` (0 = any free port) serving a safebooru look-alike."""

    def __init__(self, config: SiteConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SiteConfig()
        self.host = host
        self.port = port
        self.url = ""
        self.requests: list[RequestRecord] = []
        self.catalogue = Catalogue(self.config)
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a background thread; returns the base URL."""
        if self._server is not None:
            return self.url
        handler = type("_BoundHandler", (_Handler,), {"site": self})
        self._server = _Server((self.host, self.port), handler)
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
        return sorted(p.id for p in self.catalogue.snapshot())

    def add_posts(self, n: int) -> list[int]:
        """Publish `n` new posts with higher ids than any before; returns their ids."""
        return self.catalogue.add(n)

    def post_meta(self, post_id: int) -> dict[str, Any]:
        """The post as the JSON API shows it (22-key shape), for tests."""
        post = self.catalogue.posts[post_id]
        return json_post(post, self.catalogue.listed_md5(post), self.url, legacy=False)

    def original_bytes(self, post_id: int) -> bytes:
        """The original file's bytes, as served at the post's file_url (when no fault interferes)."""
        return self.catalogue.original(self.catalogue.posts[post_id])

    def search(self, query: str) -> list[int]:
        """Ids matching a tag query, newest first (the API's order)."""
        from crawl.sample_site.search import search

        return search(self.catalogue.snapshot(), query)

    # -- the request log ---------------------------------------------------------------------
    def reset_log(self) -> None:
        """Forget the request log (the first-attempt bookkeeping is kept)."""
        with self._lock:
            self.requests.clear()

    def image_requests_by_post(self, variant: str = "images") -> dict[int, int]:
        """How many times each post's file under /images/ (or /samples/, /thumbnails/) was requested."""
        counts: dict[int, int] = {}
        with self._lock:
            paths = [r.path for r in self.requests]
        for path in paths:
            post, _ = self._image_target(path)
            if post is not None and path.startswith(f"/{variant}/"):
                counts[post.id] = counts.get(post.id, 0) + 1
        return counts

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

    def _dispatch(self, path: str, q: dict[str, str], first: bool, key: str) -> Reply:
        faults, seed = self.config.faults, self.config.seed
        if first and fires(faults, seed, "429", key):
            retry = f"{faults.retry_after:g}"
            return Reply(429, "text/html", html_page("429 Too Many Requests"), {"Retry-After": retry})
        if first and fires(faults, seed, "5xx", key):
            code = (500, 502, 503)[int(unit(seed, "code", key) * 3)]
            return Reply(code, "text/html", html_page(f"{code} Server Error"))
        if first and fires(faults, seed, "drop", key):
            return Reply(0, drop=True)
        if path == "/index.php":
            if (q.get("page"), q.get("s"), q.get("q")) != ("dapi", "post", "index"):
                return Reply(404, "text/html", html_page("404 Not Found"))
            return api_reply(self.catalogue, self.url, q, first, key)
        if path in ("/", "/index.html"):
            return Reply(200, "text/html", html_page(f"Sample site: {len(self.catalogue.posts)} posts"))
        post, variant = self._image_target(path)
        if post is None or post.id in faults.missing_posts:
            return Reply(404, "text/html", html_page("404 Not Found"))
        if post.id in faults.html_posts:
            return Reply(200, "text/html; charset=utf-8", html_page("Image not available"))
        if post.id in faults.offsite_posts:
            location = f"http://other-host.invalid{path}"
            return Reply(302, "text/html", html_page("302 Found"), {"Location": location})
        if variant == "image":
            body = self.catalogue.original(post)
            ctype = "image/png" if post.named_ext == "png" else "image/jpeg"  # by name, like nginx
        else:
            body = self.catalogue.variant(post, variant)
            ctype = "image/jpeg"
        if post.id in faults.corrupt_posts or (first and fires(faults, seed, "corrupt", key)):
            return Reply(200, ctype, corrupt_body(body, seed, key))
        if first and fires(faults, seed, "truncate", key):
            return Reply(200, ctype, body, truncate=True)
        return Reply(200, ctype, body)

    def _image_target(self, path: str) -> tuple[SitePost | None, str]:
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
        post = self.catalogue.by_stem(stem)
        if post is None or str(post.directory) != directory:
            return None, ""
        if variant == "image" and ext != post.named_ext:
            return None, ""
        if variant == "sample" and post.sample_size is None:
            return None, ""
        return post, variant


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed crawls do) is not an error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _send(h: _Handler, reply: Reply) -> None:
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
