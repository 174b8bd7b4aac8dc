"""The site's tag search: tags ANDed, `-tag` excluded, `id:` and `rating:` filters, newest first.

`id:<N`, `id:>N`, `id:<=N`, `id:>=N` and `id:N` filter by id; `rating:X` by rating (every sample-site
post is general); other meta tags (`sort:...`, `score:...`) are ignored, as the real site does
with unknown ones. Tags in the query are HTML-unescaped, so `&gt;_&lt;` and `>_<` find the same posts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from crawl.sample_site.catalogue import SitePost

_META = re.compile(r"^-?([a-z]+):(.*)$")
_ID_FILTER = re.compile(r"^(<=|>=|<|>|=)?(\d+)$")
_GENERAL = ("general", "g", "safe", "s")


@dataclass
class Query:
    """A parsed tag query."""

    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    id_checks: list[tuple[str, int, bool]] = field(default_factory=list)  # (op, n, negated)
    rating_checks: list[tuple[bool, bool]] = field(default_factory=list)  # (general matches, negated)


def parse_query(query: str) -> Query:
    """Split a query into wanted tags, excluded tags and meta filters."""
    q = Query()
    for term in query.split():
        neg = term.startswith("-")
        m = _META.match(term)
        if m:
            name, value = m.group(1), m.group(2)
            if name == "id":
                f = _ID_FILTER.match(value)
                if f:
                    q.id_checks.append((f.group(1) or "=", int(f.group(2)), neg))
            elif name == "rating":
                q.rating_checks.append((value.lower() in _GENERAL, neg))
            continue
        (q.exclude if neg else q.include).append(html.unescape(term[1:] if neg else term))
    return q


def matches(post: SitePost, q: Query) -> bool:
    """Whether `post` is in the query's results."""
    tags = set(post.tags)
    if not all(t in tags for t in q.include) or any(t in tags for t in q.exclude):
        return False
    i = post.id
    for op, n, neg in q.id_checks:
        ok = {"<": i < n, ">": i > n, "<=": i <= n, ">=": i >= n, "=": i == n}[op]
        if ok == neg:
            return False
    return all(ok != neg for ok, neg in q.rating_checks)


def search(posts: Iterable[SitePost], query: str) -> list[int]:
    """Ids of the posts matching `query`, newest first (the API's order)."""
    q = parse_query(query)
    return sorted((p.id for p in posts if matches(p, q)), reverse=True)
