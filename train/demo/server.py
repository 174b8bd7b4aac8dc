"""`train demo`'s web server: the studio page and what it asks for (stdlib `http.server`, threaded).

    GET  /                 the page (sliders, shuffle/draw, pins, colorizer)
    GET  /latent.js        the direction maths (mirror of train/directions/latent.py), /demo.js the page's code
    GET  /sample.png?seed=1&noise=1&blue_hair=1.5          one face
    GET  /mix.png?t=0.5&a=<state query>&b=<state query>    the face between two pinned ones
    POST /colorize         JSON {"line": data URL, "hints": data URL or null, "tags": [..]} -> PNG
Bad requests get a 4xx with a one-line message; an unexpected error a 500; the server goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from train.demo import page
from train.demo.studio import BadRequest, Studio

MAX_BODY = 32 * 2**20


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], studio: Studio, quiet: bool = True) -> None:
        self.studio, self.quiet = studio, quiet
        self.page = page.render_page(studio.config()).encode()
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def data_url_bytes(value: Any, name: str) -> bytes:
    """The bytes of a `data:...;base64,...` URL (or of plain base64)."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be an image as a data URL")
    b64 = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{name} is not valid base64") from None


class Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes: without this, Nagle's algorithm and delayed ACKs
        # can hold the body back for tens of milliseconds
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"demo: {self.address_string()} {format % args}\n")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # the time the server spent on this request (parsing, z, forward pass, PNG), for the benchmark
        t0 = getattr(self, "_t0", None)  # unset for errors http.server sends itself
        if t0 is not None:
            self.send_header("Server-Timing", f"app;dur={1000 * (time.perf_counter() - t0):.2f}")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self.close_connection = True  # a request body may be left unread
        self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    def _guard(self, fn: Any) -> None:
        self._t0 = time.perf_counter()
        try:
            fn()
        except BadRequest as e:
            self._error(HTTPStatus.BAD_REQUEST, f"bad request: {e}")
        except Exception as e:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(e).__name__}: {e}")

    def do_GET(self) -> None:
        self._guard(self._get)

    def do_HEAD(self) -> None:
        self._guard(self._get)

    def do_POST(self) -> None:
        self._guard(self._post)

    def _not_allowed(self) -> None:
        self._guard(
            lambda: self._error(
                HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not supported here; use GET or POST"
            )
        )

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _get(self) -> None:
        url = urlsplit(self.path)
        studio = self.server.studio
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif url.path.lstrip("/") in page.SCRIPTS:
            self._send(
                HTTPStatus.OK, page.script(url.path.lstrip("/")).encode(), "text/javascript; charset=utf-8"
            )
        elif url.path == "/sample.png":
            self._send(HTTPStatus.OK, studio.sample_png(url.query), "image/png")
        elif url.path == "/mix.png":
            self._send(HTTPStatus.OK, studio.mix_png(url.query), "image/png")
        elif url.path == "/config.json":
            self._send(HTTPStatus.OK, json.dumps(studio.config()).encode(), "application/json")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")

    def _post(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/colorize":
            self._error(HTTPStatus.NOT_FOUND, f"nothing to POST to at {url.path}; POST /colorize")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length")
            return
        if length > MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY // 2**20} MiB per request")
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest(
                'the body must be JSON: {"line": data URL, "hints": data URL or null, "tags": [...]}'
            ) from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadRequest("tags must be a list of strings")
        line = data_url_bytes(body.get("line"), "line")
        hints = data_url_bytes(body["hints"], "hints") if body.get("hints") else None
        self._send(HTTPStatus.OK, self.server.studio.colorize_png(line, hints, tags), "image/png")


def start(studio: Studio, host: str = "127.0.0.1", port: int = 8000, quiet: bool = True) -> DemoServer:
    """A server bound to host:port (0: any free port), serving in a background thread."""
    server = DemoServer((host, port), studio, quiet)
    threading.Thread(target=server.serve_forever, name="demo-server", daemon=True).start()
    return server
