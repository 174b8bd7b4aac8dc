"""Finding, downloading and verifying nagadomi's lbpcascade_animeface.xml.

Where the cascade comes from, first found wins:

1. `--cascade PATH` (an explicit file: used as given; a sha256 other than the published one is
   a warning, not an error, so that a retrained or patched cascade can be tried on purpose);
2. `$ANIMEFACE_CASCADE` (same rule as `--cascade`);
3. the per-user cache `$XDG_CACHE_HOME/booru-gan/lbpcascade_animeface.xml` (else `~/.cache/...`),
   verified: a cached file whose sha256 is wrong is discarded and downloaded again;
4. a download from the public URL (`$ANIMEFACE_CASCADE_URL` overrides it, for tests and mirrors)
   into the cache: temporary name, sha256 verified, then renamed. A wrong sha256 is an error.

Offline and absent, `UserError` says how to provide the file.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from core.atomic import atomic_open
from core.errors import UserError

CASCADE_NAME = "lbpcascade_animeface.xml"
CASCADE_SHA256 = "9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30"
CASCADE_URL = (
    "https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/lbpcascade_animeface.xml"
)
ENV_PATH = "ANIMEFACE_CASCADE"
ENV_URL = "ANIMEFACE_CASCADE_URL"
CACHE_SUBDIR = "booru-gan"
_MAX_BYTES = 8 * 1024 * 1024  # the real file is 246945 bytes


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_path() -> Path:
    """Where the downloaded cascade is kept: $XDG_CACHE_HOME (or ~/.cache)/booru-gan/<name>."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / CACHE_SUBDIR / CASCADE_NAME


def _how_to_provide() -> str:
    return (
        f"download {CASCADE_URL} (sha256 {CASCADE_SHA256[:12]}...) and pass it with --cascade PATH "
        f"or set {ENV_PATH}=PATH, or place it at {cache_path()}"
    )


def _check_explicit(path: Path, origin: str) -> Path:
    if not path.is_file():
        raise UserError(f"{origin}: cascade file {path} does not exist; {_how_to_provide()}")
    digest = sha256_file(path)
    if digest != CASCADE_SHA256:
        print(
            f"prep: warning: {origin}: {path} has sha256 {digest[:12]}..., not the published "
            f"lbpcascade_animeface.xml ({CASCADE_SHA256[:12]}...); using it as given",
            file=sys.stderr,
        )
    return path


def download_cascade(dest: Path, url: str | None = None, timeout: float = 30.0) -> Path:
    """Download the cascade to `dest` (temporary name, sha256 verified, rename); UserError on failure."""
    import requests

    url = url or os.environ.get(ENV_URL) or CASCADE_URL
    print(f"prep: downloading {CASCADE_NAME} from {url}", file=sys.stderr)
    try:
        with requests.get(url, timeout=timeout, stream=True) as resp:
            resp.raise_for_status()
            h = hashlib.sha256()
            size = 0
            with atomic_open(dest, "wb") as f:
                for block in resp.iter_content(1 << 16):
                    size += len(block)
                    if size > _MAX_BYTES:
                        raise UserError(f"{url}: response larger than {_MAX_BYTES} bytes; not the cascade")
                    h.update(block)
                    f.write(block)
                digest = h.hexdigest()
                if digest != CASCADE_SHA256:
                    # Raising inside atomic_open removes the temporary file: nothing is kept.
                    raise UserError(
                        f"{url}: downloaded cascade has sha256 {digest}, expected {CASCADE_SHA256}; "
                        f"not using it. {_how_to_provide()}"
                    )
    except requests.HTTPError as e:
        raise UserError(f"cannot download the face cascade: {e}; {_how_to_provide()}") from None
    except requests.RequestException as e:
        raise UserError(
            f"cannot download the face cascade from {url} ({type(e).__name__}: offline?); {_how_to_provide()}"
        ) from None
    except OSError as e:
        raise UserError(
            f"cannot write the face cascade to {dest} ({e}); pass --cascade PATH instead"
        ) from None
    return dest


def resolve_cascade(path: str | Path | None = None, download: bool = True) -> Path:
    """The cascade file to use (see the module doc for the order); downloads it when needed."""
    if path:
        return _check_explicit(Path(path).expanduser(), "--cascade")
    env = os.environ.get(ENV_PATH)
    if env:
        return _check_explicit(Path(env).expanduser(), f"${ENV_PATH}")
    cached = cache_path()
    if cached.is_file():
        if sha256_file(cached) == CASCADE_SHA256:
            return cached
        print(f"prep: warning: {cached} is corrupt (wrong sha256); downloading it again", file=sys.stderr)
        cached.unlink()
    if not download:
        raise UserError(f"the face cascade is not available; {_how_to_provide()}")
    return download_cascade(cached)


_LOADED: dict[tuple[str, int, int], object] = {}


def load_cascade(path: str | Path) -> object:
    """A cv2.CascadeClassifier for `path`, created once per process (per file version) and reused."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as e:
        raise UserError(f"{path}: cannot read the cascade ({e}); pass --cascade PATH") from None
    key = (str(p), st.st_size, st.st_mtime_ns)
    clf = _LOADED.get(key)
    if clf is None:
        import cv2

        try:
            clf = cv2.CascadeClassifier(str(p))
            empty = clf.empty()
        except (cv2.error, SystemError) as e:
            raise UserError(
                f"{path}: OpenCV cannot load this file as a cascade classifier (--cascade): "
                f"{str(e).strip().splitlines()[-1] if str(e).strip() else e}"
            ) from None
        if empty:
            raise UserError(f"{path}: OpenCV cannot load this file as a cascade classifier (--cascade)")
        _LOADED[key] = clf
    return clf
