"""The HTTP layer against a small real server: retries, Retry-After, redirects, caps, sniffing, rate."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crawl.download import fetch_image, part_path
from crawl.http import FetchError, HttpClient, HttpConfig, RateLimiter, origin

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class Scripted:
    """A server whose answers per path are scripted: a list of (status, headers, body) per attempt."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str], bytes] | str]] = {}
        self.log: list[tuple[str, str]] = []  # (path, user agent)
        self.arrivals: list[tuple[str, float]] = []  # (path, time.monotonic() on arrival)
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with site.lock:
                    site.log.append((self.path, self.headers.get("User-Agent", "")))
                    site.arrivals.append((self.path, time.monotonic()))
                    steps = site.script.get(self.path, [(404, {}, b"nope")])
                    step = steps.pop(0) if len(steps) > 1 else steps[0]
                if step == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if step == "slow":
                    time.sleep(1.0)
                    step = (200, {}, PNG)
                if step == "chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(8):
                        self.wfile.write(b"4000\r\n" + b"\xff\xd8\xff" + bytes(0x4000 - 3) + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                status, headers, body = step  # type: ignore[misc]
                self.send_response(status)
                truncate = headers.pop("X-Truncate", None) is not None
                headers.setdefault("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                if truncate:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if truncate else body)
                if truncate:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.log if p == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def srv() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.close()


class FastTime:
    """A clock that jumps over the sleeps it is asked for (recording them) after a short real nap."""

    def __init__(self, sleeps: list[float] | None = None) -> None:
        self.sleeps = sleeps if sleeps is not None else []
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.offset += s
        time.sleep(min(s, 0.05))


def client(sleeps: list[float] | None = None, **kw: float) -> HttpClient:
    cfg = HttpConfig(rate=0, backoff=0.01, timeout=kw.pop("timeout", 5.0), retries=int(kw.pop("retries", 3)))
    fast = FastTime(sleeps)
    return HttpClient(cfg, sleep=fast.sleep, clock=fast.now)


def test_retries_5xx_and_429_honouring_retry_after(srv):
    srv.script["/a"] = [(503, {}, b"busy"), (429, {"Retry-After": "7"}, b"slow down"), (200, {}, b"ok")]
    sleeps: list[float] = []
    assert client(sleeps).fetch(srv.url + "/a", lambda r: r.content) == b"ok"
    assert srv.hits("/a") == 3
    assert sleeps[1] == 7.0 and sleeps[0] < 1  # backoff, then the server's Retry-After
    assert len(sleeps) == 2  # the pause the 429 set on the host was over when this thread came back


def test_gives_up_after_retries_and_never_retries_other_4xx(srv):
    srv.script["/busy"] = [(500, {}, b"")]
    with pytest.raises(FetchError) as e:
        client(retries=2).fetch(srv.url + "/busy", lambda r: r.content)
    assert e.value.reason == "http_500" and srv.hits("/busy") == 3
    srv.script["/gone"] = [(404, {}, b"")]
    srv.script["/forbidden"] = [(403, {}, b"")]
    for path, code in (("/gone", 404), ("/forbidden", 403)):
        with pytest.raises(FetchError) as e:
            client().fetch(srv.url + path, lambda r: r.content)
        assert e.value.reason == f"http_{code}" and srv.hits(path) == 1


def test_dropped_connection_and_truncated_body_are_retried(srv, tmp_path):
    srv.script["/drop"] = ["drop", (200, {}, b"fine")]
    assert client().fetch(srv.url + "/drop", lambda r: r.content) == b"fine"
    srv.script["/img"] = [(200, {"X-Truncate": "1"}, PNG), (200, {}, PNG)]
    got = fetch_image(client(), srv.url + "/img", tmp_path, 42, max_bytes=10_000)
    assert got.ext == "png" and got.size == len(PNG) and got.path.read_bytes() == PNG
    assert srv.hits("/img") == 2


def test_timeout_is_retried_then_reported(srv):
    srv.script["/slow"] = ["slow"]
    with pytest.raises(FetchError) as e:
        client(timeout=0.2, retries=1).fetch(srv.url + "/slow", lambda r: r.content)
    assert e.value.reason == "timeout" and srv.hits("/slow") == 2


def test_redirects_same_host_only(srv):
    srv.script["/r1"] = [(302, {"Location": "/r2"}, b"")]
    srv.script["/r2"] = [(200, {}, b"landed")]
    assert client().fetch(srv.url + "/r1", lambda r: r.content) == b"landed"
    srv.script["/away"] = [(302, {"Location": "http://other-host.invalid/x.png"}, b"")]
    with pytest.raises(FetchError) as e:
        client().fetch(srv.url + "/away", lambda r: r.content)
    assert e.value.reason == "redirect_offsite"
    port = srv.url.rsplit(":", 1)[1]
    srv.script["/port"] = [(301, {"Location": f"http://127.0.0.1:{int(port) + 1}/x"}, b"")]
    with pytest.raises(FetchError, match="another host"):
        client().fetch(srv.url + "/port", lambda r: r.content)
    srv.script["/loop"] = [(302, {"Location": "/loop"}, b"")]
    with pytest.raises(FetchError) as e:
        client().fetch(srv.url + "/loop", lambda r: r.content)
    assert e.value.reason == "too_many_redirects" and srv.hits("/loop") == 6


def test_user_agent_is_sent(srv):
    srv.script["/ua"] = [(200, {}, b"")]
    HttpClient(HttpConfig(rate=0, user_agent="tester/1.0 (+x)")).fetch(srv.url + "/ua", lambda r: r.content)
    assert srv.log[-1] == ("/ua", "tester/1.0 (+x)")
    HttpClient(HttpConfig(rate=0)).fetch(srv.url + "/ua", lambda r: r.content)
    assert "booru-gan" in srv.log[-1][1] and "crawler" in srv.log[-1][1]


def test_image_checks_sniff_and_size_cap(srv, tmp_path: Path):
    srv.script["/html.jpg"] = [(200, {"Content-Type": "image/jpeg"}, b"<!DOCTYPE html><html>" + b"x" * 100)]
    srv.script["/big.png"] = [(200, {}, PNG)]
    srv.script["/chunked.jpg"] = ["chunked"]
    srv.script["/tiny.png"] = [(200, {}, b"\x89PNG")]
    cases = [("/html.jpg", 1 << 20, "not_image"), ("/big.png", 100, "too_large")]
    cases += [("/chunked.jpg", 50_000, "too_large"), ("/tiny.png", 1 << 20, "not_image")]
    for path, cap, reason in cases:
        with pytest.raises(FetchError) as e:
            fetch_image(client(), srv.url + path, tmp_path, 7, max_bytes=cap)
        assert e.value.reason == reason, path
        assert not part_path(tmp_path, 7).exists()
    assert srv.hits("/big.png") == 1  # refused from Content-Length, not retried
    got = fetch_image(client(), srv.url + "/chunked.jpg", tmp_path, 7, max_bytes=1 << 20)
    assert got.ext == "jpg" and got.size == 8 * 0x4000 and got.is_part


def test_unreachable_host_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(FetchError) as e:
        client(retries=1).fetch(f"http://127.0.0.1:{port}/x", lambda r: r.content)
    assert e.value.reason == "connection_error"


def test_rate_limiter_spaces_requests():
    # a lower bound only: a slow machine can make it slower, never faster
    limiter = RateLimiter(rate=50.0)
    t0 = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    assert time.monotonic() - t0 >= 10 / 50 - 0.01
    unlimited = RateLimiter(rate=0)
    for _ in range(1000):
        unlimited.acquire()


def test_rate_limit_is_per_host_and_shared_by_threads(srv):
    c = HttpClient(HttpConfig(rate=1000.0))
    assert c.limiter("http://a:80") is c.limiter("http://a:80")
    assert c.limiter("http://a:80") is not c.limiter("http://b:80")
    srv.script["/t"] = [(200, {}, b"")]
    slow = HttpClient(HttpConfig(rate=40.0))
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=lambda: slow.fetch(srv.url + "/t", lambda r: r.content)) for _ in range(9)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert srv.hits("/t") == 9 and time.monotonic() - t0 >= 8 / 40 - 0.01


def test_rate_limiter_pause_holds_every_caller():
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    unlimited = RateLimiter(rate=0, clock=lambda: now[0], sleep=sleep)
    unlimited.pause_until(105.0)
    unlimited.acquire()
    assert now[0] == 105.0 and sleeps == [5.0]
    unlimited.pause_until(103.0)  # an earlier deadline does not shorten (or renew) the pause
    unlimited.acquire()
    assert sleeps == [5.0] and unlimited.paused_until == 105.0

    limited = RateLimiter(rate=2.0, clock=lambda: now[0], sleep=sleep)
    limited.acquire()  # the one token of the burst
    limited.pause_until(now[0] + 10)
    sleeps.clear()
    limited.acquire()
    limited.acquire()
    assert sleeps == [10.0, 0.5]  # the pause, then the rate again (no burst saved up during the pause)


def test_429_and_503_pause_the_whole_host(srv):
    """Other threads send nothing to a host while it has asked for a pause; other 5xx pause only their thread."""
    srv.script["/busy"] = [(429, {"Retry-After": "1"}, b"slow down"), (200, {}, b"ok")]
    srv.script["/other"] = [(200, {}, b"fine")]
    srv.script["/down"] = [(503, {"Retry-After": "1"}, b"down"), (200, {}, b"up")]
    srv.script["/bug"] = [(500, {}, b"oops"), (200, {}, b"ok")]
    c = HttpClient(HttpConfig(rate=0, backoff=0.01, retries=3))
    limiter = c.limiter(origin(srv.url))

    for path, pauses in (("/busy", True), ("/down", True), ("/bug", False)):
        srv.arrivals.clear()
        got: list[bytes] = []
        first = threading.Thread(
            target=lambda p=path, got=got: got.append(c.fetch(srv.url + p, lambda r: r.content))
        )
        before = limiter.paused_until
        first.start()
        deadline = time.monotonic() + 10
        while not [a for a in srv.arrivals if a[0] == path] and time.monotonic() < deadline:
            time.sleep(0.005)
        if pauses:  # the others start once the client knows about the pause
            while limiter.paused_until == before and time.monotonic() < deadline:
                time.sleep(0.005)
        others = [
            threading.Thread(
                target=lambda: [c.fetch(srv.url + "/other", lambda r: r.content) for _ in range(3)]
            )
            for _ in range(4)
        ]
        for t in others:
            t.start()
        for t in [first, *others]:
            t.join(timeout=30)
        assert len(got) == 1
        refused_at = next(t for p, t in srv.arrivals if p == path)
        after = [t for p, t in srv.arrivals if p == "/other"]
        assert len(after) == 12
        if pauses:
            # a lower bound only: the pause began when the client read the answer, after it was sent
            assert min(after) >= refused_at + 1.0, path
            assert limiter.paused_until > before
        else:
            assert limiter.paused_until == before  # a 500 is this URL's trouble, not the host's
    assert c.stats["host_pauses"] == 2
