"""The post API, `GET /index.php?page=dapi&s=post&q=index&tags=...&limit=N&pid=P[&json=1][&id=N]`.

Posts come sorted by id descending; `limit` defaults to 100 and is capped at 1000; `&id=N` asks
for one post. With `json=1` the answer is a JSON array, and an empty result is an EMPTY BODY
(0 bytes), as on the real site; otherwise XML. Errors (deep paging past `paging_cap`, bad
`limit`/`pid`) are the real XML error body with status 200, even with json=1.
"""

from __future__ import annotations

from crawl.sample_site.catalogue import Catalogue
from crawl.sample_site.faults import fires
from crawl.sample_site.render import Reply, error_body, json_post, php_json, posts_xml, xml_post
from crawl.sample_site.search import search

MAX_LIMIT = 1000
ERROR_ABUSE = "Search error: API limited due to abuse."
ERROR_PARAMS = "Search error: invalid parameters."
JSON_TYPE = "application/json; charset=utf-8"


def api_reply(cat: Catalogue, base: str, q: dict[str, str], first: bool, fault_key: str) -> Reply:
    """Answer one API request; `first` says whether this is the first request for this exact URL."""
    try:
        limit = int(q.get("limit", "100") or 100)
        pid = int(q.get("pid", "0") or 0)
    except ValueError:
        return Reply(200, "text/xml", error_body(ERROR_PARAMS))
    if limit < 0 or pid < 0:
        return Reply(200, "text/xml", error_body(ERROR_PARAMS))
    limit = min(limit, MAX_LIMIT)
    faults = cat.config.faults
    if pid * limit > faults.paging_cap:
        return Reply(200, "text/xml", error_body(ERROR_ABUSE))
    ids = search(cat.snapshot(), q.get("tags", ""))
    if q.get("id", "").isdigit():  # `&id=N`: that one post, as the real API allows
        ids = [i for i in ids if i == int(q["id"])]
    page = ids[pid * limit : (pid + 1) * limit]
    more = (pid + 1) * limit < len(ids)
    if page and more and first and fires(faults, cat.config.seed, "empty_page", fault_key):
        page = []
    posts = [cat.posts[i] for i in page]
    cat.render_missing(posts)
    if q.get("json") == "1":
        if not posts:
            return Reply(200, JSON_TYPE, b"")
        body = [json_post(p, cat.listed_md5(p), base, p.legacy) for p in posts]
        return Reply(200, JSON_TYPE, php_json(body))
    xml = [xml_post(p, cat.listed_md5(p), base) for p in posts]
    return Reply(200, "text/xml; charset=utf-8", posts_xml(xml, len(ids), pid * limit))
