"""The Gelbooru-0.2 post API (safebooru.org): list URLs and parsing of its JSON and XML bodies.

Real bodies vary: `directory` is a string or an integer, `score` may be null, tags and sources carry
HTML entities, older posts have no URL fields, and errors come back as XML even with `json=1`.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode, urljoin

# safebooru answers `limit` above this with at most this many posts
MAX_PAGE_SIZE = 1000

_RATINGS = {"s": "safe", "g": "general", "q": "questionable", "e": "explicit"}
# metatags that change the order of results and so would break keyset (`id:<N`) paging
_ORDER_TAG = re.compile(r"^-?(sort|order):", re.IGNORECASE)


class ApiError(Exception):
    """The API answered with an error body (`<response success="false" reason="..."/>`)."""


class NotBooruError(Exception):
    """The body is not a Gelbooru-0.2 post list at all (an HTML page, garbage, ...)."""


@dataclass(frozen=True)
class Post:
    """One post's metadata as the API lists it, normalised."""

    id: int
    tags: list[str] = field(default_factory=list)
    rating: str | None = None
    score: int | None = None
    width: int | None = None
    height: int | None = None
    source: str | None = None
    md5: str | None = None
    directory: str | None = None
    image: str | None = None
    file_url: str | None = None
    sample_url: str | None = None
    has_sample: bool = False
    change: int | None = None

    def original_url(self, api_url: str) -> str | None:
        """The original file: the API's `file_url`, else `{api}/images/{directory}/{image}`."""
        if self.file_url:
            return urljoin(api_url.rstrip("/") + "/", self.file_url)
        if self.directory and self.image:
            return f"{api_url.rstrip('/')}/images/{self.directory}/{self.image}"
        return None

    def sample_variant_url(self, api_url: str) -> str | None:
        """The downsized sample when the post has one (else the original)."""
        if not self.has_sample:
            return self.original_url(api_url)
        if self.sample_url:
            return urljoin(api_url.rstrip("/") + "/", self.sample_url)
        if self.directory and self.image:
            stem = PurePosixPath(self.image).stem
            return f"{api_url.rstrip('/')}/samples/{self.directory}/sample_{stem}.jpg"
        return self.original_url(api_url)


def normalise_query(tags: str) -> list[str]:
    """Split a tag query into tags; refuses empty queries and order-changing metatags."""
    parts = tags.split()
    if not parts:
        raise ValueError("the tag query is empty")
    bad = [t for t in parts if _ORDER_TAG.match(t) or t.lower().startswith("id:<")]
    if bad:
        raise ValueError(f"tags {bad} are not supported: the crawler pages newest-first with id:<N itself")
    return parts


def list_url(api_url: str, tags: list[str], limit: int, before_id: int | None = None, pid: int = 0) -> str:
    """The post-list URL: `tags` plus `id:<before_id` for keyset paging, JSON form."""
    query_tags = [*tags, f"id:<{before_id}"] if before_id is not None else list(tags)
    params = {
        "page": "dapi",
        "s": "post",
        "q": "index",
        "json": "1",
        "limit": str(limit),
        "pid": str(pid),
        "tags": " ".join(query_tags),
    }
    return f"{api_url.rstrip('/')}/index.php?{urlencode(params)}"


def parse_posts(body: bytes | str) -> list[Post]:
    """Parse a post-list body (JSON array, JSON object with `post`, or XML `<posts>`).

    An empty body is an empty page. Raises ApiError for an error response, NotBooruError for
    anything that is not a post list.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = text.lstrip("\ufeff \t\r\n")
    if not text:
        return []
    if text[0] in "[{":
        return _parse_json(text)
    if text.startswith("<"):
        return _parse_xml(text)
    raise NotBooruError(f"not a post list (starts with {text[:40]!r})")


def _parse_json(text: str) -> list[Post]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotBooruError(f"invalid JSON: {e}") from e
    if isinstance(data, dict):
        if data.get("success") is False or ("reason" in data and "post" not in data):
            raise ApiError(str(data.get("reason") or data.get("message") or "error"))
        data = data.get("post", [])
        if isinstance(data, dict):
            data = [data]
    if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
        raise NotBooruError("JSON is not a list of posts")
    return [_post(p) for p in data]


def _parse_xml(text: str) -> list[Post]:
    head = text[:512].lower()
    if "<html" in head or "<!doctype html" in head:
        raise NotBooruError("got an HTML page, not an API response")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise NotBooruError(f"invalid XML: {e}") from e
    if root.tag == "response":
        if root.get("success", "").lower() == "false":
            raise ApiError(root.get("reason") or (root.text or "").strip() or "error")
        return []
    if root.tag != "posts":
        raise NotBooruError(f"unexpected XML root <{root.tag}>")
    return [_post(dict(el.attrib)) for el in root.iter("post")]


def _int(v: Any) -> int | None:
    if v is None or v == "" or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _str(v: Any) -> str | None:
    if v is None:
        return None
    s = html.unescape(str(v)).strip()
    return s or None


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true")
    return bool(v)


def _post(d: dict[str, Any]) -> Post:
    pid = _int(d.get("id"))
    if pid is None:
        raise NotBooruError(f"post without an id: {str(d)[:80]}")
    rating = _str(d.get("rating"))
    if rating:
        rating = _RATINGS.get(rating.lower(), rating.lower())
    directory = d.get("directory")
    file_url, sample_url = _str(d.get("file_url")), _str(d.get("sample_url"))
    return Post(
        id=pid,
        tags=[html.unescape(t) for t in str(d.get("tags") or "").split()],
        rating=rating,
        score=_int(d.get("score")),
        width=_int(d.get("width")),
        height=_int(d.get("height")),
        source=_str(d.get("source")),
        md5=_str(d.get("hash") or d.get("md5")),
        directory=str(directory) if directory not in (None, "") else None,
        image=_str(d.get("image")),
        file_url=file_url,
        sample_url=sample_url,
        has_sample=_bool(d.get("sample")) or bool(sample_url and sample_url != file_url),
        change=_int(d.get("change")),
    )
