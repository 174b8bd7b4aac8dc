"""A local, deterministic safebooru.org look-alike for tests, demos and benchmarks.

`SampleSite` serves synthetic illustrations (crawl.synthetic) through the same URLs and API
bodies as the real site, so that the crawler can be exercised end to end without the internet.
One job per module:

- `catalogue`: the posts (metadata from the seed) and their files (originals, samples, thumbnails);
- `search`: the tag query (tags ANDed, `-tag`, `id:` and `rating:` filters), newest first;
- `render`: JSON and XML bodies in the real site's shapes, its error body, HTML pages;
- `api`: the `/index.php?page=dapi&s=post&q=index` endpoint (limit, pid, paging cap, `&id=`);
- `faults`: what can go wrong, transient (first request for a URL) or per post (always);
- `server`: the HTTP server, the request log, routing of image URLs and the faults.
"""

from crawl.sample_site.api import ERROR_ABUSE, ERROR_PARAMS, MAX_LIMIT
from crawl.sample_site.catalogue import SAMPLE_WIDTH, THUMB_SIZE, SiteConfig, SitePost
from crawl.sample_site.faults import Faults
from crawl.sample_site.server import RequestRecord, SampleSite

__all__ = [
    "ERROR_ABUSE",
    "ERROR_PARAMS",
    "MAX_LIMIT",
    "SAMPLE_WIDTH",
    "THUMB_SIZE",
    "Faults",
    "RequestRecord",
    "SampleSite",
    "SiteConfig",
    "SitePost",
]
