"""Bodies as the real site writes them: the API's JSON and XML posts, its error body, HTML pages.

- JSON: the 2025 22-key shape (urls, `directory` an int, `score` sometimes null), or for legacy
  posts the 2023 15-key shape (no urls, `directory` a string). Like PHP's json_encode, `/` is
  written `\\/` and non-ASCII as `\\uXXXX`.
- XML: `<posts count=".." offset=".."><post .../></posts>` with gelbooru-0.2 attributes.
- Tags are stored HTML-escaped, as on the real site (`>_<` is served as `&gt;_&lt;`, `'` as
  `&#039;`); in XML the escaped text is XML-escaped once more.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from crawl.sample_site.catalogue import SitePost


@dataclass
class Reply:
    """One answer to send."""

    status: int  # 0: drop the connection without answering
    ctype: str = "text/html"
    body: bytes = b""
    headers: dict[str, str] | None = None
    truncate: bool = False  # send half the body, then close
    drop: bool = False


def php_escape(tag: str) -> str:
    """htmlspecialchars(ENT_QUOTES), as the real site stores tags."""
    return html.escape(tag, quote=True).replace("&#x27;", "&#039;")


def php_json(obj: Any) -> bytes:
    """json_encode's default output: compact, ASCII-only, slashes escaped."""
    return json.dumps(obj, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def post_urls(post: SitePost, base: str) -> dict[str, str]:
    """preview_url, sample_url (the original's when there is no sample) and file_url."""
    file_url = f"{base}/images/{post.directory}/{post.image}"
    sample = f"{base}/samples/{post.directory}/sample_{post.stem}.jpg" if post.sample_size else file_url
    return {
        "preview_url": f"{base}/thumbnails/{post.directory}/thumbnail_{post.stem}.jpg",
        "sample_url": sample,
        "file_url": file_url,
    }


def json_post(post: SitePost, md5: str, base: str, legacy: bool) -> dict[str, Any]:
    """A post as the JSON API lists it (2023 shape when `legacy`, else 2025)."""
    sample = post.sample_size
    tags = " ".join(php_escape(t) for t in post.tags)
    if legacy:
        return {
            "directory": str(post.directory),
            "hash": md5,
            "height": post.height,
            "id": post.id,
            "image": post.image,
            "change": post.change,
            "owner": post.owner,
            "parent_id": 0,
            "rating": "general",
            "sample": sample is not None,
            "sample_height": sample[1] if sample else 0,
            "sample_width": sample[0] if sample else 0,
            "score": post.score or 0,
            "tags": tags,
            "width": post.width,
        }
    return {
        **post_urls(post, base),
        "directory": post.directory,
        "hash": md5,
        "width": post.width,
        "height": post.height,
        "id": post.id,
        "image": post.image,
        "change": post.change,
        "owner": post.owner,
        "parent_id": 0,
        "rating": "general",
        "sample": sample is not None,
        "sample_height": sample[1] if sample else 0,
        "sample_width": sample[0] if sample else 0,
        "score": post.score,
        "tags": tags,
        "source": post.source,
        "status": "active",
        "has_notes": False,
        "comment_count": post.comment_count,
    }


def xml_post(post: SitePost, md5: str, base: str) -> str:
    """A post as the XML API lists it: one `<post .../>` element with gelbooru-0.2 attributes."""
    urls = post_urls(post, base)
    sw, sh = post.sample_size or (post.width, post.height)
    tw, th = post.thumb_size
    tags = " " + " ".join(php_escape(t) for t in post.tags) + " "
    created = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(post.change))
    a = quoteattr
    return (
        f"<post height={a(str(post.height))} score={a('' if post.score is None else str(post.score))}"
        f' file_url={a(urls["file_url"])} parent_id="" sample_url={a(urls["sample_url"])}'
        f"  sample_width={a(str(sw))} sample_height={a(str(sh))} preview_url={a(urls['preview_url'])}"
        f' rating="general" tags={a(tags)} id={a(str(post.id))} width={a(str(post.width))}'
        f'  change={a(str(post.change))} md5={a(md5)} creator_id="{post.id % 9973}"'
        f' has_children="false" created_at={a(created)} status="active" source={a(post.source)}'
        f' has_notes="false" has_comments={a("true" if post.comment_count else "false")}'
        f" preview_width={a(str(tw))} preview_height={a(str(th))}/>"
    )


def posts_xml(elements: list[str], count: int, offset: int) -> bytes:
    """The XML list body around rendered `<post/>` elements."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><posts count="{count}" offset="{offset}">'
    return (head + "\n".join(elements) + "</posts>").encode("utf-8")


def error_body(reason: str) -> bytes:
    """The real site's API error: `<response success="false" reason="..."/>` (sent with status 200)."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<response success="false" reason={quoteattr(reason)}/>'
    ).encode()


def html_page(title: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode()
