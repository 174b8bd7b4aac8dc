"""prep.cascade: explicit paths, the per-user cache, and downloads from a real local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import UserError
from prep import cascade


class _Server:
    """A real HTTP server on 127.0.0.1 serving fixed bytes at /lbpcascade_animeface.xml."""

    def __init__(self) -> None:
        self.body = b""
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                if self.path != "/lbpcascade_animeface.xml":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/lbpcascade_animeface.xml"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $ANIMEFACE_CASCADE, and a private cache folder; returns the cache file's path."""
    monkeypatch.delenv(cascade.ENV_PATH, raising=False)
    monkeypatch.delenv(cascade.ENV_URL, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "booru-gan" / "lbpcascade_animeface.xml"


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/lbpcascade_animeface.xml"


def test_cache_path_follows_xdg(clean_env: Path) -> None:
    assert cascade.cache_path() == clean_env


def test_download_real_cascade_into_cache(
    clean_env: Path, server: _Server, cascade_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.body = cascade_path.read_bytes()
    monkeypatch.setenv(cascade.ENV_URL, server.url)
    got = cascade.resolve_cascade()
    assert got == clean_env and got.read_bytes() == server.body
    assert cascade.sha256_file(got) == cascade.CASCADE_SHA256
    assert not cascade.load_cascade(got).empty()  # type: ignore[attr-defined]
    # Second call: served from the cache, no new request.
    assert cascade.resolve_cascade() == clean_env and server.hits == 1


def test_corrupted_download_is_refused_and_not_kept(
    clean_env: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.body = b'<?xml version="1.0"?>\n<opencv_storage>tampered</opencv_storage>\n'
    monkeypatch.setenv(cascade.ENV_URL, server.url)
    with pytest.raises(UserError, match="sha256"):
        cascade.resolve_cascade()
    assert not clean_env.exists()
    assert not list(clean_env.parent.glob("*")) if clean_env.parent.exists() else True


def test_download_verifies_against_expected_hash(
    clean_env: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download path without ../shared: expected hash patched to the served bytes' hash."""
    server.body = b"stand-in cascade bytes\n" * 100
    monkeypatch.setattr(cascade, "CASCADE_SHA256", hashlib.sha256(server.body).hexdigest())
    monkeypatch.setenv(cascade.ENV_URL, server.url)
    assert cascade.resolve_cascade().read_bytes() == server.body
    # A corrupt cached copy is discarded and fetched again.
    clean_env.write_bytes(b"bit rot")
    assert cascade.resolve_cascade().read_bytes() == server.body
    assert server.hits == 2


def test_http_error_is_a_user_error(
    clean_env: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cascade.ENV_URL, server.url.replace("lbpcascade", "missing"))
    with pytest.raises(UserError, match="404"):
        cascade.resolve_cascade()


def test_offline_says_how_to_provide_it(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cascade.ENV_URL, _closed_port_url())
    with pytest.raises(UserError) as exc:
        cascade.resolve_cascade()
    msg = str(exc.value)
    assert "--cascade" in msg and cascade.ENV_PATH in msg and "cannot download" in msg
    assert not clean_env.exists()
    with pytest.raises(UserError, match="--cascade"):
        cascade.resolve_cascade(download=False)


def test_explicit_path_and_env(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UserError, match="does not exist"):
        cascade.resolve_cascade(tmp_path / "nope.xml")
    other = tmp_path / "mine.xml"
    other.write_bytes(b"<opencv_storage/>")
    assert cascade.resolve_cascade(other) == other
    assert "warning" in capsys.readouterr().err  # wrong sha256 from --cascade: warned, used
    monkeypatch.setenv(cascade.ENV_PATH, str(other))
    assert cascade.resolve_cascade() == other
    assert cascade.ENV_PATH in capsys.readouterr().err
    # --cascade wins over the environment.
    with pytest.raises(UserError, match="--cascade"):
        cascade.resolve_cascade(tmp_path / "missing.xml")


def test_load_cascade_is_cached_and_rejects_garbage(cascade_path: Path, tmp_path: Path) -> None:
    a = cascade.load_cascade(cascade_path)
    assert cascade.load_cascade(str(cascade_path)) is a
    bad = tmp_path / "bad.xml"
    bad.write_text("not a cascade")
    with pytest.raises(UserError, match="cannot load"):
        cascade.load_cascade(bad)
