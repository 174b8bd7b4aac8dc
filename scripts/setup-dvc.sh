#!/usr/bin/env bash
# Create .venv-dvc with a pinned DVC for tests/test_pipeline_dvc.py (idempotent).
# DVC is not a dependency of the project: it gets its own environment so that its many
# requirements never mix with the project's. scripts/test.sh points the tests at it (DVC_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
DVC_VERSION=${DVC_VERSION:-3.67.1}
PY=${PYTHON:-python3}
export DVC_NO_ANALYTICS=1   # no usage report daemon
if [ -x .venv-dvc/bin/dvc ] && [ "$(.venv-dvc/bin/dvc --version 2>/dev/null)" = "$DVC_VERSION" ]; then
  exit 0
fi
[ -x .venv-dvc/bin/python ] || "$PY" -m venv .venv-dvc
.venv-dvc/bin/python -m pip --disable-pip-version-check -q install "dvc==${DVC_VERSION}"
echo "setup-dvc: $(.venv-dvc/bin/dvc --version) in .venv-dvc"
