"""`prep sample-site`: run the local safebooru look-alike in the foreground."""

from __future__ import annotations

import typer

from core.errors import UserError


def _rate(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise UserError(
            f"{name} must be a share between 0 and 1 (e.g. 0.1 for one request in ten), got {value}"
        )
    return value


def main(
    port: int = typer.Option(8000, "--port", help="TCP port to listen on; 0 picks a free one."),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on. Keep 127.0.0.1 unless other machines must reach it.",
    ),
    posts: int = typer.Option(200, "--posts", help="How many posts the site has (ids 1000, 1001, ...)."),
    seed: int = typer.Option(
        0, "--seed", help="Changes every picture, tag and fault; same seed = same site."
    ),
    latency_ms: float = typer.Option(
        0.0, "--latency-ms", help="Delay added to every request, in milliseconds."
    ),
    fault_429: float = typer.Option(
        0.0,
        "--fault-429",
        help="Share of URLs answered '429 Too Many Requests' (with Retry-After) the first time.",
    ),
    retry_after: float = typer.Option(
        1.0, "--retry-after", help="Seconds the 429 answers ask clients to wait."
    ),
    fault_5xx: float = typer.Option(
        0.0, "--fault-5xx", help="Share of URLs answered 500/502/503 the first time."
    ),
    fault_drop: float = typer.Option(
        0.0, "--fault-drop", help="Share of URLs whose first request is cut off without any answer."
    ),
    fault_truncate: float = typer.Option(
        0.0, "--fault-truncate", help="Share of image URLs whose first download stops half-way."
    ),
    fault_corrupt: float = typer.Option(
        0.0,
        "--fault-corrupt",
        help="Share of image URLs whose first download is the format's signature followed by garbage "
        "(200, full length): it sniffs as an image but does not decode.",
    ),
    fault_empty_page: float = typer.Option(
        0.0,
        "--fault-empty-page",
        help="Share of API pages (not the last) that come back empty the first time.",
    ),
    paging_cap: int = typer.Option(
        200000,
        "--paging-cap",
        help="Refuse API requests with pid*limit above this, as safebooru does (its cap is 200000).",
    ),
    duplicate_every: int = typer.Option(
        0, "--duplicate-every", help="Every Nth post re-uploads an earlier post's exact file (0 = never)."
    ),
) -> None:
    """Serve a fake safebooru.org on this machine, with synthetic anime pictures, until Ctrl-C.

    It answers the same API as the real site (/index.php?page=dapi&s=post&q=index&json=1...) and
    serves images under /images/, /samples/ and /thumbnails/. Faults fire only on the first
    request for a URL, so a crawler that retries always gets everything. Point the crawler at
    the printed URL, e.g. `prep crawl --api-url http://127.0.0.1:8000 --rate 0 ...`.
    """
    rates = {
        "--fault-429": fault_429,
        "--fault-5xx": fault_5xx,
        "--fault-drop": fault_drop,
        "--fault-truncate": fault_truncate,
        "--fault-corrupt": fault_corrupt,
        "--fault-empty-page": fault_empty_page,
    }
    for name, value in rates.items():
        _rate(name, value)
    if posts < 0:
        raise UserError(f"--posts must be 0 or more, got {posts}")
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {port}")
    if latency_ms < 0 or retry_after < 0:
        raise UserError("--latency-ms and --retry-after must not be negative")
    if paging_cap < 0 or duplicate_every < 0:
        raise UserError("--paging-cap and --duplicate-every must not be negative")

    from crawl.sample_site import Faults, SampleSite, SiteConfig

    faults = Faults(
        rate_429=fault_429,
        retry_after=retry_after,
        rate_5xx=fault_5xx,
        rate_drop=fault_drop,
        rate_truncate=fault_truncate,
        rate_corrupt=fault_corrupt,
        rate_empty_page=fault_empty_page,
        paging_cap=paging_cap,
    )
    config = SiteConfig(
        n_posts=posts, seed=seed, faults=faults, latency_s=latency_ms / 1000, duplicate_every=duplicate_every
    )
    site = SampleSite(config, host=host, port=port)
    try:
        url = site.start()
    except OSError as e:
        raise UserError(
            f"cannot listen on {host}:{port} ({e.strerror}); pick another --port or --host"
        ) from e
    ids = site.post_ids
    span = f"ids {ids[0]}..{ids[-1]}" if ids else "no posts"
    print(f"sample site: {url} ({posts} posts, {span}); API: {url}/index.php?page=dapi&s=post&q=index&json=1")
    print("press Ctrl-C to stop", flush=True)
    try:
        site.serve_forever()
    except KeyboardInterrupt:
        print("sample site: stopped")
