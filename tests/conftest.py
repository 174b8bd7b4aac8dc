"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` (read-only reference data); tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def cascade_path() -> Path:
    """The lbpcascade_animeface cascade: $ANIMEFACE_CASCADE, ../shared's copy or the user cache, else skip."""
    from prep.cascade import CASCADE_SHA256, cache_path, sha256_file

    env = os.environ.get("ANIMEFACE_CASCADE")
    for candidate in (env, SHARED / "models" / "lbpcascade_animeface.xml"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    cached = cache_path()
    if cached.is_file() and sha256_file(cached) == CASCADE_SHA256:
        return cached
    pytest.skip("lbpcascade_animeface.xml not available (set ANIMEFACE_CASCADE)")


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600):
    """Run `python -m <prog> args...` as a user would; returns the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PREP_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread: on a shared 2-core machine two per process are far slower, not faster."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
