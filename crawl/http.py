"""A polite HTTP client: one token bucket per host, retries with backoff, same-host redirects only.

Retried: connection errors, timeouts, truncated bodies, 5xx and 429 (honouring `Retry-After`).
Not retried: any other 4xx. Redirects are followed by hand so that one to another host is refused.
A 429 or 503 is the host asking us to back off, so it pauses the host's limiter: every thread
waits out the `Retry-After` (or the backoff delay), not just the one that got the answer.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

T = TypeVar("T")

DEFAULT_USER_AGENT = "booru-gan/0.1 (+https://github.com/booru-gan/booru-gan; dataset research crawler)"
MAX_REDIRECTS = 5
# never sleep longer than this for one Retry-After, whatever the server asks
MAX_RETRY_AFTER_S = 300.0


class FetchError(Exception):
    """A request that failed for good; `reason` is a short snake_case code for the manifest."""

    def __init__(
        self, reason: str, message: str, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def host_wide(self) -> bool:
        """Whether the answer asks the whole host to back off (429 Too Many Requests, 503 Unavailable)."""
        return self.reason in ("http_429", "http_503")


class RetryableBody(FetchError):
    """Raised by a body handler for a body worth fetching again (truncated, empty page...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message, retryable=True)


class RateLimiter:
    """A token bucket: at most `rate` acquisitions per second on average, bursts of `burst`,
    and none at all before a pause set with `pause_until` has run out.

    `rate <= 0` means no rate limit (pauses still hold). Thread-safe: callers sleep outside the lock.
    `clock` and `sleep` can be replaced together (tests); they default to the real ones.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._paused_until = float("-inf")
        self._lock = threading.Lock()

    @property
    def paused_until(self) -> float:
        """The clock time before which `acquire` blocks (-inf when never paused)."""
        return self._paused_until

    def pause_until(self, when: float) -> None:
        """Block every acquisition until clock time `when`; an earlier pause never shortens a later one."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif self.rate <= 0:
                    return
                else:
                    # no tokens pile up during a pause: after it, requests resume at `rate`
                    self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                    self._last = now
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return
                    wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)


@dataclass
class HttpConfig:
    """Knobs of the client; the defaults suit safebooru.org."""

    user_agent: str = DEFAULT_USER_AGENT
    rate: float = 2.0  # requests per second per host, API and images together
    timeout: float = 30.0  # connect and read timeout, seconds
    retries: int = 5  # further attempts after the first
    backoff: float = 1.0  # first retry delay, seconds; doubles each time (with jitter)
    pool_size: int = 16


class HttpClient:
    """requests with per-host rate limits, retries and same-host redirects; safe to share by threads."""

    def __init__(
        self,
        config: HttpConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or HttpConfig()
        self._sleep = sleep
        self._clock = clock
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.stats = {"requests": 0, "retries": 0, "host_pauses": 0}

    def limiter(self, host: str) -> RateLimiter:
        with self._lock:
            if host not in self._limiters:
                self._limiters[host] = RateLimiter(self.config.rate, clock=self._clock, sleep=self._sleep)
            return self._limiters[host]

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.config.pool_size, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers["User-Agent"] = self.config.user_agent
            self._local.session = s
        return s

    def fetch(self, url: str, handle: Callable[[requests.Response], T], stream: bool = False) -> T:
        """GET `url` and return `handle(response)` for a 2xx answer, retrying what is worth it.

        `handle` may raise RetryableBody to have the request made again.
        """
        attempt = 0
        while True:
            try:
                return self._once(url, handle, stream)
            except FetchError as e:
                if not e.retryable or attempt >= self.config.retries:
                    raise
                delay = e.retry_after
                if delay is None:
                    delay = self.config.backoff * (2**attempt) * (0.5 + random.random() / 2)
                attempt += 1
                with self._lock:
                    self.stats["retries"] += 1
                if e.host_wide:
                    # every thread waits for this host, this one included (its own sleep covers it)
                    self.limiter(origin(url)).pause_until(self._clock() + delay)
                    with self._lock:
                        self.stats["host_pauses"] += 1
                self._sleep(delay)

    def _once(self, url: str, handle: Callable[[requests.Response], T], stream: bool) -> T:
        start = origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            self.limiter(start).acquire()
            with self._lock:
                self.stats["requests"] += 1
            try:
                resp = self._session().get(
                    url, timeout=self.config.timeout, allow_redirects=False, stream=stream
                )
            except requests.Timeout as e:
                raise FetchError("timeout", f"timed out: {url}", retryable=True) from e
            except requests.RequestException as e:
                raise FetchError("connection_error", f"{type(e).__name__}: {url}", retryable=True) from e
            with resp:
                if resp.is_redirect:
                    target = urljoin(url, resp.headers.get("Location", ""))
                    if origin(target) != start:
                        raise FetchError("redirect_offsite", f"{url} redirects to another host: {target}")
                    url = target
                    continue
                _check_status(resp, url)
                try:
                    return handle(resp)
                except requests.Timeout as e:
                    raise FetchError("timeout", f"timed out reading {url}", retryable=True) from e
                except requests.RequestException as e:
                    raise FetchError("truncated", f"body cut short: {url} ({type(e).__name__})", True) from e
        raise FetchError("too_many_redirects", f"more than {MAX_REDIRECTS} redirects: {url}")


def origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _check_status(resp: requests.Response, url: str) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    if code == 429 or code >= 500:
        wait = _retry_after(resp.headers.get("Retry-After"))
        raise FetchError(f"http_{code}", f"HTTP {code} from {url}", retryable=True, retry_after=wait)
    raise FetchError(f"http_{code}", f"HTTP {code} from {url}")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        secs = when.timestamp() - time.time()
    return min(max(secs, 0.0), MAX_RETRY_AFTER_S)


def read_limited(resp: requests.Response, max_bytes: int, sink: Callable[[bytes], None]) -> int:
    """Stream `resp`'s body into `sink`, refusing more than `max_bytes`; checks Content-Length.

    Returns the number of bytes read. Raises FetchError `too_large`, RetryableBody `truncated`.
    """
    declared = resp.headers.get("Content-Length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None and expected > max_bytes:
        raise FetchError("too_large", f"{expected} bytes declared, more than the cap of {max_bytes}")
    n = 0
    for chunk in resp.iter_content(chunk_size=64 * 1024):
        n += len(chunk)
        if n > max_bytes:
            raise FetchError("too_large", f"more than the cap of {max_bytes} bytes")
        sink(chunk)
    if expected is not None and n != expected and "Content-Encoding" not in resp.headers:
        raise RetryableBody("truncated", f"got {n} of {expected} bytes")
    return n
