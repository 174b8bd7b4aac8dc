"""Shards behind a URL: what `--shards` accepts besides a local folder, and streaming them.

    --shards https://host/faces/shards.json            a shard folder's index (http, https, s3)
    --shards s3://bucket/faces                         a folder URL: its shards.json
    --shards https://host/faces-{000000..000099}.tar   a brace pattern (also in pipe: commands)
    --shards "pipe:aws s3 cp s3://bucket/faces/shards.json -"   anything a shell command prints

Shards are streamed as they are read (tar members one after the other), never copied to disk.
http and https are read with Python's urllib; `s3://` runs the AWS CLI (`aws s3 cp URL -`, so
its usual credentials and `AWS_ENDPOINT_URL` apply); `pipe:CMD` runs CMD in a shell and reads
its standard output, as webdataset's `pipe:` does. The shards of an index are found next to it:
for a `pipe:` index, each shard's command is the index's with `shards.json` replaced by the
shard's file name. A brace pattern's sample counts come from a `shards.json` in the same folder
when there is one (http, https, s3) and from reading each shard once otherwise.
Any failure is a `UserError` naming the URL.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Collection, Iterable, Iterator
from typing import IO, Any

from core.errors import UserError
from core.shards import iter_tar_samples

INDEX = "shards.json"
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_BRACES = re.compile(r"\{[^{}]*(\.\.|,)[^{}]*\}")
SCHEMES = ("http", "https", "s3")
_TIMEOUT = 60


def is_remote(spec: str) -> bool:
    """A URL (`scheme://`, `pipe:`) or a brace pattern, rather than a local path."""
    return spec.startswith("pipe:") or _SCHEME.match(spec) is not None or _BRACES.search(spec) is not None


def _scheme(url: str) -> str:
    if url.startswith("pipe:"):
        return "pipe"
    m = _SCHEME.match(url)
    return m.group(1).lower() if m else "file"


def _check_scheme(url: str) -> None:
    s = _scheme(url)
    if s not in (*SCHEMES, "pipe", "file"):
        raise UserError(
            f"--shards {url}: unsupported URL scheme {s}://; use http(s)://, s3:// or pipe:COMMAND "
            "(a shell command that writes the file to its standard output)"
        )


class _Proc:
    """Standard output of a command as a readable binary stream; a failed command raises on close."""

    def __init__(self, args: list[str] | str, url: str) -> None:
        self.url = url
        try:
            self.proc = subprocess.Popen(
                args, shell=isinstance(args, str), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError as e:
            raise UserError(
                f"--shards {url}: cannot run {e.filename!r}; s3:// needs the AWS CLI (`aws`) on PATH, "
                "or use pipe:COMMAND with a tool you have"
            ) from e
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout

    def read(self, n: int = -1) -> bytes:
        return self.stdout.read(n)

    def close(self, check: bool = True) -> None:
        self.stdout.close()
        rc = self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
        if self.proc.stderr:
            self.proc.stderr.close()
        # 141/-13: SIGPIPE, we stopped reading early on purpose
        if check and rc not in (0, 141, -13):
            last = err.splitlines()[-1] if err else f"exit status {rc}"
            raise UserError(f"--shards {self.url}: the command failed: {last}")

    def __enter__(self) -> _Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(check=exc[0] is None)


def open_url(url: str) -> IO[bytes] | _Proc:
    """A readable binary stream of one URL (or local path); UserError when it cannot be opened."""
    _check_scheme(url)
    s = _scheme(url)
    if s in ("http", "https"):
        try:
            return urllib.request.urlopen(url, timeout=_TIMEOUT)
        except urllib.error.HTTPError as e:
            raise UserError(f"--shards {url}: HTTP {e.code} {e.reason}; check the URL") from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"--shards {url}: cannot connect ({reason}); check the host and port") from e
    if s == "s3":
        return _Proc(["aws", "s3", "cp", "--quiet", url, "-"], url)
    if s == "pipe":
        return _Proc(url[len("pipe:") :], url)
    try:
        return open(url.removeprefix("file://"), "rb")
    except OSError as e:
        raise UserError(f"--shards {url}: {e.strerror}") from e


def read_url(url: str) -> bytes:
    """The whole content of a (small) URL, e.g. an index."""
    stream = open_url(url)
    try:
        data = stream.read()
    except OSError as e:
        raise UserError(f"--shards {url}: read failed ({e}); check the URL") from e
    finally:
        if isinstance(stream, _Proc):
            stream.close()
        else:
            stream.close()
    return data


def expand(spec: str) -> list[str]:
    """Brace expansion: `faces-{000000..000002}.tar` -> three names (zero padding kept)."""
    import braceexpand

    try:
        return list(braceexpand.braceexpand(spec))
    except Exception as e:  # braceexpand raises its own error types on bad patterns
        raise UserError(f"--shards {spec}: not a valid brace pattern ({e})") from e


def _sibling(url: str, name: str) -> str:
    """The URL of file `name` in the folder of `url` (for pipe:, the command with the last path's
    file name replaced)."""
    if url.startswith("pipe:"):
        if INDEX in url:
            head, _, tail = url.rpartition(INDEX)
            return head + name + tail
        raise UserError(f"--shards {url}: a pipe: index command must name {INDEX}")
    return url[: url.rindex("/") + 1] + name


def _parse_index(data: bytes, url: str) -> list[dict[str, Any]]:
    try:
        entries = json.loads(data)["shardlist"]
        return [{"url": str(e["url"]), "nsamples": int(e["nsamples"])} for e in entries]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"--shards {url}: not a shard index (shards.json written by `prep`): {e}; check the URL"
        ) from e


def resolve(spec: str) -> tuple[str, list[str], list[int] | None]:
    """(folder URL, shard URLs in order, samples per shard or None when unknown) of a remote spec."""
    spec = spec.strip()
    if _BRACES.search(spec):
        urls = expand(spec)
        for u in urls[:1]:
            _check_scheme(u)
        return _folder(urls[0]), urls, _sizes_from_sibling_index(urls)
    _check_scheme(spec)
    path = spec.split("?", 1)[0]
    if spec.startswith("pipe:"):
        is_index = INDEX in spec
        is_tar = not is_index
    else:
        is_index = path.endswith(".json")
        is_tar = path.endswith(".tar")
        if not is_index and not is_tar:  # a folder URL
            spec = spec.rstrip("/") + "/" + INDEX
            is_index = True
    if is_tar:
        return _folder(spec), [spec], None
    entries = _parse_index(read_url(spec), spec)
    urls = [e["url"] if is_remote(e["url"]) else _sibling(spec, e["url"]) for e in entries]
    return _folder(spec), urls, [e["nsamples"] for e in entries]


def _folder(url: str) -> str:
    return url if url.startswith("pipe:") else url[: url.rindex("/")] if "/" in url else url


def _sizes_from_sibling_index(urls: list[str]) -> list[int] | None:
    """Sample counts of a brace pattern's shards from the folder's shards.json, if it lists them all."""
    if not urls or _scheme(urls[0]) not in SCHEMES:
        return None
    try:
        entries = _parse_index(read_url(_sibling(urls[0], INDEX)), urls[0])
    except UserError:
        return None
    by_name = {e["url"].rsplit("/", 1)[-1]: e["nsamples"] for e in entries}
    names = [u.rsplit("/", 1)[-1] for u in urls]
    return [by_name[n] for n in names] if all(n in by_name for n in names) else None


def iter_url_samples(
    url: str, fields: Collection[str] | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Stream one shard (URL or path): (key, {ext: bytes}) per sample, in file order, like
    `core.shards.iter_samples`. Stopping early closes the connection."""
    stream = open_url(url)
    ok = False
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[arg-type]
            yield from iter_tar_samples(tar, fields)
        ok = True
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"--shards {url}: cannot read the shard ({e}); check the URL") from e
    finally:
        if isinstance(stream, _Proc):
            stream.close(check=ok)
        else:
            stream.close()


def count_url_samples(url: str) -> int:
    """Distinct keys of one shard, reading it once."""
    return sum(1 for _ in iter_url_samples(url, fields=()))


def open_streams(urls: Iterable[dict[str, str]], bufsize: int) -> Iterator[dict[str, Any]]:
    """webdataset's `url_opener` for local paths and every URL kind above: {"url", "stream"} dicts."""
    for sample in urls:
        url = sample["url"]
        stream: Any = open(url, "rb", buffering=bufsize) if not is_remote(url) else open_url(url)  # noqa: SIM115
        try:
            yield {**sample, "stream": stream}
        finally:
            if isinstance(stream, _Proc):
                stream.close(check=False)
            else:
                stream.close()
