#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# CI and developers point the cascade at ../shared when it exists; tests that need it skip otherwise
# (the project's own tests build their faces and use the cascade from here or from the cache).
if [ -z "${ANIMEFACE_CASCADE:-}" ] && [ -f ../shared/models/lbpcascade_animeface.xml ]; then
  export ANIMEFACE_CASCADE="$(cd ../shared/models && pwd)/lbpcascade_animeface.xml"
fi
# Real DVC for tests/test_pipeline_dvc.py, where scripts/setup-dvc.sh installed it.
if [ -z "${DVC_BIN:-}" ] && [ -x .venv-dvc/bin/dvc ]; then
  export DVC_BIN="$PWD/.venv-dvc/bin/dvc"
fi
# Two worker processes (PYTEST_WORKERS=0 runs in one); a file's tests stay on one worker, so its
# module fixtures are built once.
exec .venv/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
