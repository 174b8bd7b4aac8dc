"""The crawl loop: list pages newest-first with `id:<N`, filter, download concurrently, record each post.

One thread lists pages and is the only writer of the store; a pool of threads downloads to `.part`
files, checks that each decodes (crawl.integrity) and renames it into place at once, so a finished
download survives a kill even before it is recorded: the next run adopts it (it decodes and its md5
is the API's) instead of fetching it again. A body that does not decode is fetched once more, then
recorded `corrupt`. A page's id range is marked covered only once all its posts are recorded and
synced, so a killed run resumes where it stopped and a later run fetches only the posts that are new.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from core.errors import UserError
from core.hashing import file_md5
from crawl import cursor
from crawl.api import ApiError, NotBooruError, Post, list_url, parse_posts
from crawl.download import SNIFF_BYTES, Fetched, fetch_image, image_relpath, keep, sniff
from crawl.http import FetchError, HttpClient, HttpConfig, RetryableBody, origin
from crawl.integrity import decode_problem
from crawl.store import Store
from schemas.crawl import STATUS_CORRUPT, STATUS_DUPLICATE, STATUS_FILTERED, STATUS_OK

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass
class CrawlConfig:
    """Everything one `prep crawl` run needs; see `prep crawl --help` for the meaning of each."""

    api_url: str
    tags: list[str]
    out: Path
    limit: int | None = None
    page_size: int = 100
    concurrency: int = 4
    variant: str = "original"
    ratings: frozenset[str] | None = None
    min_side: int = 0
    max_bytes: int = DEFAULT_MAX_BYTES
    exclude_tags: frozenset[str] = frozenset()
    allow_hosts: frozenset[str] = frozenset()
    retry_failed: bool = False
    empty_page_retries: int = 2
    compact_every_s: float = 60.0
    progress: bool = True
    check_images: bool = True  # decode every download; off only to measure what the check costs
    http: HttpConfig = field(default_factory=HttpConfig)


@dataclass
class _Page:
    lo: int
    hi: int
    n: int
    pending: int = 0


class CrawlAborted(UserError):
    """The API failed mid-crawl for good; what was done is saved and a rerun resumes."""

    exit_code = 1


def query_key(cfg: CrawlConfig) -> str:
    """Identifies a query and its filters in crawl_state.json: covered ranges are per key."""
    return json.dumps(
        {
            "api": cfg.api_url.rstrip("/"),
            "tags": sorted(cfg.tags),
            "variant": cfg.variant,
            "ratings": sorted(cfg.ratings) if cfg.ratings else None,
            "min_side": cfg.min_side,
            "max_bytes": cfg.max_bytes,
            "exclude": sorted(cfg.exclude_tags),
        },
        sort_keys=True,
    )


class Crawler:
    """Runs one crawl; `run()` returns the statistics written to `_stats.json`."""

    def __init__(self, cfg: CrawlConfig, client: HttpClient | None = None) -> None:
        self.cfg = cfg
        self.client = client or HttpClient(cfg.http)
        self.store = Store(cfg.out)
        self.api_origin = origin(cfg.api_url)
        self.counts: dict[str, int] = {
            "listed": 0,
            "skipped_known": 0,
            "ok": 0,
            "md5_mismatch": 0,
            "duplicate": 0,
            "filtered": 0,
            "failed": 0,
            "pages": 0,
            "empty_page_retries": 0,
            "bytes": 0,
        }
        self.failures: dict[str, int] = {}
        self._ready: list[_Page] = []
        self._inflight: dict[Future[Fetched], tuple[_Page, Post, str]] = {}
        self._bar: Any = None
        self.stats: dict[str, Any] = {}
        self._touched: set[int] = set()  # ids recorded by this run

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        cfg = self.cfg
        t0 = time.monotonic()
        self.store.open()
        key = query_key(cfg)
        self._live = self.store.intervals(key)
        # navigation uses the ranges as they were at the start; --retry-failed lists everything again
        known_ranges = [] if cfg.retry_failed else list(self._live)
        self._key = key
        self._last_compact = time.monotonic()
        before: int | None = None
        seen = 0
        listing = True
        max_inflight = max(cfg.page_size, 4 * cfg.concurrency)
        self._bar = tqdm(
            total=cfg.limit, unit="post", desc="crawl", disable=not cfg.progress, mininterval=0.5
        )
        pool = ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="crawl")
        try:
            while True:
                while listing and len(self._inflight) < max_inflight:
                    if cfg.limit is not None and seen >= cfg.limit:
                        listing = False
                        break
                    covered = cursor.find(known_ranges, before - 1) if before is not None else None
                    if covered is not None:
                        seen += covered[2]
                        self._bar.update(covered[2])
                        before = covered[0]
                        if before <= 1:
                            listing = False
                        continue
                    posts = self._list_page(before)
                    last_page = len(posts) < cfg.page_size  # a short page: nothing matches below it
                    posts = sorted({p.id: p for p in posts if before is None or p.id < before}.values(),
                                   key=lambda p: -p.id)  # fmt: skip
                    if not posts:  # the end (an empty page is not trusted to mark the range done)
                        listing = False
                        break
                    hi = before - 1 if before is not None else posts[0].id
                    taken: list[Post] = []
                    lo = 0 if last_page else posts[-1].id
                    for p in posts:
                        if cursor.find(known_ranges, p.id) is not None:
                            lo = p.id + 1  # touches a covered range: the next loop jumps over it
                            break
                        taken.append(p)
                        if cfg.limit is not None and seen + len(taken) >= cfg.limit:
                            lo = p.id
                            break
                    page = _Page(lo, hi, len(taken))
                    seen += len(taken)
                    self.counts["listed"] += len(taken)
                    for p in taken:
                        self._start(p, page, pool)
                    if page.pending == 0:
                        self._ready.append(page)
                    before = lo
                    if before <= 1:
                        listing = False
                    self._checkpoint()
                if not self._inflight:
                    break
                done, _ = wait(list(self._inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._finish(fut)
                self._checkpoint()
        finally:
            for fut in self._inflight:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._checkpoint(force=True)
            self.store.close()
            self._bar.close()
            self.stats = self._stats(time.monotonic() - t0)
        return self.stats

    # -- listing -------------------------------------------------------------------------------

    def _list_page(self, before: int | None) -> list[Post]:
        """One page of posts below `before`; an empty page is asked again (it may be a glitch)."""
        url = list_url(self.cfg.api_url, self.cfg.tags, self.cfg.page_size, before_id=before)
        first = self.counts["pages"] == 0
        attempts = 0
        while True:
            try:
                posts = self.client.fetch(url, _parse_page)
            except FetchError as e:
                raise self._api_failure(first, e.reason, str(e)) from None
            except ApiError as e:
                raise self._api_failure(first, "api_error", f"the API refused the query: {e}") from None
            except NotBooruError as e:
                raise self._api_failure(first, "not_booru", str(e)) from None
            self.counts["pages"] += 1
            if posts or attempts >= self.cfg.empty_page_retries:
                return posts
            attempts += 1
            self.counts["empty_page_retries"] += 1
            time.sleep(self.cfg.http.backoff * (2 ** (attempts - 1)))

    def _api_failure(self, first: bool, reason: str, message: str) -> UserError:
        api = self.cfg.api_url
        if first and reason in ("connection_error", "timeout"):
            return UserError(f"--api-url {api} cannot be reached ({message}); check the URL and the network")
        if first and (
            reason in ("not_booru", "bad_body", "redirect_offsite", "too_many_redirects")
            or reason[:6] == "http_4"
        ):
            return UserError(
                f"--api-url {api} does not look like a Gelbooru-0.2 booru API ({message}); "
                "give the site root, e.g. https://safebooru.org"
            )
        if first:
            return UserError(f"--api-url {api}: {message}")
        return CrawlAborted(f"the API failed mid-crawl ({message}); progress is saved, rerun to resume")

    # -- posts ---------------------------------------------------------------------------------

    def _start(self, post: Post, page: _Page, pool: ThreadPoolExecutor) -> None:
        """Skip, filter or record `post` at once, or submit its download."""
        old = self.store.rows.get(post.id)
        if old is not None:
            status = old["status"]
            redo = status == STATUS_FILTERED or (
                self.cfg.retry_failed and status not in (STATUS_OK, STATUS_DUPLICATE)
            )
            if not redo:
                self.counts["skipped_known"] += 1
                self._bar.update(1)
                return
        reason = self._filter_reason(post)
        if reason is not None:
            self._record(post, STATUS_FILTERED, error=reason)
            return
        url = post.sample_variant_url(self.cfg.api_url) if self.cfg.variant == "sample" else None
        url = url or post.original_url(self.cfg.api_url)
        if url is None:
            self._record(post, "no_url", error="the API gave neither file_url nor directory/image")
            return
        host = (urlsplit(url).hostname or "").lower()
        if origin(url) != self.api_origin and host not in self.cfg.allow_hosts:
            self._record(post, "offsite_url", error=f"{url} is not on the API's host (see --allow-host)")
            return
        kept = self.store.by_md5.get(post.md5 or "") if url == post.original_url(self.cfg.api_url) else None
        if kept is not None and kept < post.id:  # the API's md5 names bytes we already hold
            size = self.store.rows[kept]["file_size"]
            got = Fetched(self.cfg.out / "-", "", post.md5 or "", size, downloaded=False)
            self._record(post, STATUS_DUPLICATE, url=url, got=got, duplicate_of=kept)
            return
        fut = pool.submit(self._download, post, url)
        self._inflight[fut] = (page, post, url)
        page.pending += 1

    def _filter_reason(self, post: Post) -> str | None:
        cfg = self.cfg
        if cfg.ratings is not None and (post.rating or "") not in cfg.ratings:
            return f"rating {post.rating} not in --rating {','.join(sorted(cfg.ratings))}"
        if cfg.min_side and post.width and post.height and min(post.width, post.height) < cfg.min_side:
            return f"{post.width}x{post.height} is under --min-side {cfg.min_side}"
        if bad := sorted(cfg.exclude_tags.intersection(post.tags)):
            return f"has excluded tags {' '.join(bad)}"
        return None

    def _download(self, post: Post, url: str) -> Fetched:
        """Worker: adopt a file a killed run already renamed into place, else download, check and keep it."""
        out = self.cfg.out
        # the API's md5 describes the original only
        expected = post.md5 if post.md5 and url == post.original_url(self.cfg.api_url) else None
        found = self.store.files.get(post.id)  # what a killed run renamed into place
        if found is not None:
            adopted = self._adopt(found, expected)
            if adopted is not None:
                return adopted
            found.unlink(missing_ok=True)
        for attempt in (1, 2):
            got = fetch_image(self.client, url, out, post.id, self.cfg.max_bytes)
            problem = None
            if self.cfg.check_images:
                problem = decode_problem(got.data or got.path, got.ext, md5_confirmed=got.md5 == expected)
            if problem is None:
                return keep(out, post.id, got)
            got.path.unlink(missing_ok=True)
            # bytes whose md5 is the API's are the site's own broken file: asking again gives them again
            if attempt == 2 or got.md5 == expected:
                raise FetchError(
                    STATUS_CORRUPT,
                    f"does not decode ({problem}); {got.size} bytes, md5 {got.md5}, the API's md5 {post.md5}",
                )
        raise AssertionError("unreachable")

    def _adopt(self, found: Path, expected: str | None) -> Fetched | None:
        """A stored file that is complete: its type sniffs, it decodes, its md5 is the API's (if known)."""
        try:
            with open(found, "rb") as f:
                ext = sniff(f.read(SNIFF_BYTES))
        except FileNotFoundError:  # removed since the store was opened (it became a duplicate)
            return None
        if ext is None or found.suffix != f".{ext}":
            return None
        md5, size = file_md5(found)
        if expected is not None and md5 != expected:
            return None
        if self.cfg.check_images and decode_problem(found, ext, md5_confirmed=expected is not None):
            return None
        return Fetched(found, ext, md5, size, downloaded=False)

    def _finish(self, fut: Future[Fetched]) -> None:
        page, post, url = self._inflight.pop(fut)
        try:
            got = fut.result()
        except FetchError as e:
            if e.reason == "too_large":
                self._record(post, STATUS_FILTERED, error=f"too_large: {e}", url=url)
            else:
                self._record(post, e.reason, error=str(e), url=url)
        except (OSError, requests.RequestException) as e:
            self._record(post, "error", error=f"{type(e).__name__}: {e}", url=url)
        else:
            self._store_file(post, url, got)
            if got.downloaded:
                self.counts["bytes"] += got.size
        page.pending -= 1
        if page.pending == 0:
            self._ready.append(page)

    def _store_file(self, post: Post, url: str, got: Fetched) -> None:
        """Keep the file once per distinct content: the lowest post id holds it, others are duplicates.

        Keeping the lowest id (not the first to finish) makes the result independent of timing.
        """
        kept = self.store.by_md5.get(got.md5)
        if kept is not None and kept < post.id:
            got.path.unlink(missing_ok=True)
            self._record(post, STATUS_DUPLICATE, url=url, got=got, duplicate_of=kept)
            return
        rel = image_relpath(post.id, got.ext)
        if got.path != self.cfg.out / rel:  # the workers keep files under their final name already
            os.replace(got.path, self.cfg.out / rel)
        if kept is not None and kept != post.id:  # a higher id held these bytes: it becomes the duplicate
            old = self.store.rows[kept]
            if old.get("path"):
                (self.cfg.out / old["path"]).unlink(missing_ok=True)
            self.store.by_md5.pop(got.md5, None)
            self.store.add({**old, "status": STATUS_DUPLICATE, "path": None, "duplicate_of": post.id})
            self._touched.add(kept)
        self._record(post, STATUS_OK, url=url, got=got, path=rel)

    def _record(
        self,
        post: Post,
        status: str,
        error: str | None = None,
        url: str | None = None,
        got: Fetched | None = None,
        path: str | None = None,
        duplicate_of: int | None = None,
    ) -> None:
        comparable = got is not None and post.md5 and url == post.original_url(self.cfg.api_url)
        row = {
            "id": post.id,
            "tags": post.tags,
            "rating": post.rating,
            "score": post.score,
            "width": post.width,
            "height": post.height,
            "source": post.source,
            "md5": post.md5,
            "file_md5": got.md5 if got else None,
            "file_size": got.size if got else None,
            "file_url": url,
            "path": path,
            "status": status,
            "error": error,
            "duplicate_of": duplicate_of,
            "change": post.change,
            "md5_match": (got.md5 == post.md5) if comparable and got else None,
        }
        if self.store.rows.get(post.id) != row:
            self.store.add(row)
        self._touched.add(post.id)
        self._bar.update(1)

    # -- durability ----------------------------------------------------------------------------

    def _checkpoint(self, force: bool = False) -> None:
        """Sync the journal; then (only then) mark finished pages covered; compact now and then."""
        if not self.store.sync(force=force) and not force:
            return
        if self._ready:
            for page in self._ready:
                self._live = cursor.add(self._live, page.lo, page.hi, page.n)
            self._ready.clear()
            self.store.save_intervals(self._key, self.cfg.tags, self._live)
        if time.monotonic() - self._last_compact > self.cfg.compact_every_s:
            self.store.compact()
            self._last_compact = time.monotonic()

    def _stats(self, elapsed: float) -> dict[str, Any]:
        rows = self.store.rows.values()
        for pid in self._touched:  # final statuses of what this run recorded
            status = self.store.rows[pid]["status"]
            if status in (STATUS_OK, STATUS_DUPLICATE, STATUS_FILTERED):
                self.counts[status] += 1
                if status == STATUS_OK and self.store.rows[pid]["md5_match"] is False:
                    self.counts["md5_mismatch"] += 1
            else:
                self.counts["failed"] += 1
                self.failures[status] = self.failures.get(status, 0) + 1
        return {
            **self.counts,
            "failures": dict(sorted(self.failures.items())),
            "http_requests": self.client.stats["requests"],
            "http_retries": self.client.stats["retries"],
            "http_host_pauses": self.client.stats["host_pauses"],
            "removed_part_files": self.store.removed_parts,
            "seconds": round(elapsed, 3),
            "manifest_rows": len(self.store.rows),
            "manifest_ok": sum(1 for r in rows if r["status"] == STATUS_OK),
            "query": " ".join(self.cfg.tags),
            "api_url": self.cfg.api_url,
        }


def _parse_page(resp: requests.Response) -> list[Post]:
    """Body handler for list pages: an HTML page is final, a cut-off JSON/XML body is retried."""
    body = resp.content
    ctype = resp.headers.get("Content-Type", "").lower()
    try:
        return parse_posts(body)
    except NotBooruError as e:
        head = body[:512].lower()
        if "text/html" in ctype or b"<html" in head or b"<!doctype" in head:
            raise
        raise RetryableBody("bad_body", f"unparseable page body ({e})") from e
