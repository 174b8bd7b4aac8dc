"""Download one post's image into the store: stream to `<id>.part`, sniff the bytes, hash, cap the size.

The file is named from the post id and the sniffed type only, never from anything the server sends.
The caller checks that the `.part` file decodes, then renames it into place (`keep`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import requests

from core.images import sniff_format
from crawl.http import FetchError, HttpClient, read_limited

IMAGE_EXTS = ("png", "jpg", "gif", "webp", "bmp")
SNIFF_BYTES = 32  # enough for every signature core.images.sniff_format checks (BMP needs 26)


def sniff(head: bytes) -> str | None:
    """The file extension for an image from its first bytes (png, jpg, gif, webp, bmp), else None.

    The same test as `core.images.sniff_format`, which later stages decode by.
    """
    fmt = sniff_format(head)
    return "jpg" if fmt == "jpeg" else fmt


def image_relpath(post_id: int, ext: str) -> str:
    """Where a post's file lives, relative to the crawl's --out: `images/<id % 1000:03d>/<id>.<ext>`."""
    return f"images/{post_id % 1000:03d}/{post_id}.{ext}"


def part_path(out: Path, post_id: int) -> Path:
    return out / image_relpath(post_id, "part")


@dataclass(frozen=True)
class Fetched:
    """A downloaded (or found) file: where it is now, its type, md5 and size."""

    path: Path  # a `.part` file, or the final file once kept (or found already in the store)
    ext: str
    md5: str
    size: int
    downloaded: bool  # fetched by this run (False: adopted from the store or known from the API's md5)
    data: bytes | None = field(default=None, repr=False, compare=False)  # the body, while it is checked

    @property
    def is_part(self) -> bool:
        """Still under its `.part` name (downloaded, not yet checked and kept)."""
        return self.path.suffix == ".part"


def keep(out: Path, post_id: int, got: Fetched) -> Fetched:
    """Rename a checked `.part` download to its final name; from then on it survives a kill."""
    final = out / image_relpath(post_id, got.ext)
    os.replace(got.path, final)
    return replace(got, path=final, data=None)


def fetch_image(client: HttpClient, url: str, out: Path, post_id: int, max_bytes: int) -> Fetched:
    """Download `url` to `<id>.part` (rewritten on each retry); raises FetchError on failure."""
    part = part_path(out, post_id)
    part.parent.mkdir(parents=True, exist_ok=True)

    def handle(resp: requests.Response) -> Fetched:
        h = hashlib.md5()
        head = bytearray()
        body = bytearray()  # kept for the decode check (--max-bytes bounds it), saves reading the file
        with open(part, "wb") as f:

            def sink(chunk: bytes) -> None:
                if len(head) < SNIFF_BYTES:
                    head.extend(chunk[: SNIFF_BYTES - len(head)])
                    if len(head) >= SNIFF_BYTES and sniff(bytes(head)) is None:
                        raise FetchError("not_image", _not_image_message(resp, bytes(head)))
                h.update(chunk)
                f.write(chunk)
                body.extend(chunk)

            size = read_limited(resp, max_bytes, sink)
        ext = sniff(bytes(head))
        if ext is None:
            raise FetchError("not_image", _not_image_message(resp, bytes(head)))
        return Fetched(part, ext, h.hexdigest(), size, downloaded=True, data=bytes(body))

    try:
        return client.fetch(url, handle, stream=True)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        raise


def _not_image_message(resp: requests.Response, head: bytes) -> str:
    ctype = resp.headers.get("Content-Type", "?")
    return f"not an image (Content-Type {ctype}, starts with {head[:12]!r})"
