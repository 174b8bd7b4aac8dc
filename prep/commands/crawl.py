"""`prep crawl`: download a booru tag query into a raw image store and `posts.parquet`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from core.errors import UserError

_RATING_NAMES = {"g": "general", "s": "safe", "q": "questionable", "e": "explicit"}
_RATINGS = {"general", "safe", "sensitive", "questionable", "explicit"}


def main(
    tags: Annotated[
        str,
        typer.Option(
            "--tags",
            "-t",
            help='Tag query as typed on the site, e.g. "1girl solo -monochrome". '
            "Do not add sort:/order:/id:< tags: the crawler pages newest-first with id:<N itself.",
        ),
    ],
    limit: Annotated[
        int | None,
        typer.Option(
            help="Stop after the N newest matching posts, counting those already in --out "
            "(a rerun of the same command finishes the job; a later rerun adds only newer posts). "
            "Default: the whole result set."
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Raw store: images/<id%1000>/<id>.<ext>, posts.parquet, _stats.json."),
    ] = Path("data/raw"),
    api_url: Annotated[
        str,
        typer.Option(help="Site root of a Gelbooru-0.2 booru (the crawler adds /index.php?page=dapi...)."),
    ] = "https://safebooru.org",
    rate: Annotated[
        float,
        typer.Option(
            help="Requests per second per host, API and images together. The default of 2 keeps well "
            "under what safebooru tolerates from one client; 0 means unlimited (local test sites only)."
        ),
    ] = 2.0,
    concurrency: Annotated[int, typer.Option(help="Parallel image downloads (still bound by --rate).")] = 4,
    variant: Annotated[
        str,
        typer.Option(help="original: the full file; sample: the site's ~850px JPEG where there is one."),
    ] = "original",
    rating: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep only these ratings (general, safe, sensitive, questionable, explicit; comma "
            "separated or repeated). Others are recorded with status 'filtered'. Default: all."
        ),
    ] = None,
    min_side: Annotated[
        int,
        typer.Option(help="Skip posts whose shorter side (API width/height of the original) is below PX."),
    ] = 0,
    max_bytes: Annotated[
        int, typer.Option(help="Refuse files larger than this many bytes (status 'filtered', too_large).")
    ] = 50 * 1024 * 1024,
    exclude_tags: Annotated[
        str,
        typer.Option(help="Space-separated tags to skip (status 'filtered'), checked after listing."),
    ] = "",
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also download file URLs on this host (e.g. a CDN). By default only the --api-url host "
            "is trusted; redirects to another host are never followed."
        ),
    ] = None,
    page_size: Annotated[int, typer.Option(help="Posts per API request (1-1000).")] = 100,
    retry_failed: Annotated[
        bool, typer.Option(help="Try again posts that failed in an earlier run (404, timeouts, ...).")
    ] = False,
    user_agent: Annotated[
        str | None,
        typer.Option(help="User-Agent header; default names this project and says it is a research crawler."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Connect/read timeout per request, seconds.")] = 30.0,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries of a request after connection errors, timeouts, cut-off bodies, 5xx and 429."
        ),
    ] = 5,
    retry_backoff: Annotated[
        float,
        typer.Option(
            envvar="PREP_CRAWL_RETRY_BACKOFF",
            help="First retry delay in seconds, doubled each retry (429 Retry-After wins).",
        ),
    ] = 1.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Crawl a booru tag query into --out: images, posts.parquet (one row per post) and _stats.json.

    Uses the site's API (index.php?page=dapi&s=post&q=index, JSON or XML answers) and pages newest-first with id:<N, past the site's deep-paging cap. Safe to kill at any moment: run the same command again to resume, with no duplicate rows and no second download of a stored file; run it again later to add only the new posts. Identical files are kept once (status 'duplicate'). Polite: one rate limit per host, retries with backoff, honours Retry-After, never follows a redirect to another host.

    Integrity: every download is decoded (at reduced size, cheaply) before it is kept, and its md5 compared with the API's. Statuses in posts.parquet: 'ok' (stored; column md5_match says whether our md5 equals the API's: a file that decodes but differs is kept, as the API is sometimes wrong), 'corrupt' (an image signature, but the body does not decode, twice: no file kept), 'truncated' (the body stayed shorter than its Content-Length), 'not_image' (no image signature, e.g. an HTML page), 'duplicate', 'filtered', or another failure reason (http_404, timeout, ...). Failures are tried again with --retry-failed.
    """
    from core.stats import summary_line, write_stats
    from crawl.api import MAX_PAGE_SIZE, normalise_query
    from crawl.crawler import CrawlAborted, CrawlConfig, Crawler
    from crawl.http import DEFAULT_USER_AGENT, HttpConfig

    try:
        tag_list = normalise_query(tags)
    except ValueError as e:
        raise UserError(f'--tags: {e}; give a query such as "1girl solo"') from None
    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1 (leave it out for the whole result set)")
    if rate < 0:
        raise UserError("--rate must be >= 0 requests per second (0 = unlimited)")
    if not 1 <= concurrency <= 64:
        raise UserError(f"--concurrency must be between 1 and 64, got {concurrency}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise UserError(f"--page-size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    if variant not in ("original", "sample"):
        raise UserError(f"--variant must be 'original' or 'sample', not {variant!r}")
    if min_side < 0:
        raise UserError(f"--min-side must be 0 or more pixels, got {min_side}")
    if max_bytes < 1:
        raise UserError(f"--max-bytes must be at least 1, got {max_bytes}")
    if timeout <= 0:
        raise UserError(f"--timeout must be more than 0 seconds, got {timeout}")
    if retries < 0 or retry_backoff < 0:
        raise UserError(f"--retries and --retry-backoff must be 0 or more, got {retries} and {retry_backoff}")
    if not api_url.startswith(("http://", "https://")):
        raise UserError(f"--api-url must start with http:// or https://, got {api_url!r}")
    ratings = _parse_ratings(rating)
    cfg = CrawlConfig(
        api_url=api_url.rstrip("/"),
        tags=tag_list,
        out=out,
        limit=limit,
        page_size=page_size,
        concurrency=concurrency,
        variant=variant,
        ratings=ratings,
        min_side=min_side,
        max_bytes=max_bytes,
        exclude_tags=frozenset(exclude_tags.split()),
        allow_hosts=frozenset(h.lower() for h in (allow_host or [])),
        retry_failed=retry_failed,
        progress=progress,
        http=HttpConfig(
            user_agent=user_agent or DEFAULT_USER_AGENT,
            rate=rate,
            timeout=timeout,
            retries=retries,
            backoff=retry_backoff,
            pool_size=concurrency + 2,
        ),
    )
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file, not a folder; choose a folder")
    crawler = Crawler(cfg)
    try:
        stats = crawler.run()
    except CrawlAborted:
        if crawler.stats:
            write_stats(out, "crawl", {**crawler.stats, "aborted": True})
        raise
    write_stats(out, "crawl", stats)
    keys = ["listed", "ok", "duplicate", "filtered", "failed", "skipped_known", "md5_mismatch", "manifest_ok"]
    keys.append("seconds")
    typer.echo(summary_line("crawl", stats, keys))


def _parse_ratings(values: list[str] | None) -> frozenset[str] | None:
    if not values:
        return None
    names = set()
    for value in values:
        for r in value.replace(" ", ",").split(","):
            r = _RATING_NAMES.get(r.strip().lower(), r.strip().lower())
            if not r:
                continue
            if r not in _RATINGS:
                raise UserError(f"--rating: unknown rating {r!r}; use {', '.join(sorted(_RATINGS))}")
            names.add(r)
    return frozenset(names) or None
