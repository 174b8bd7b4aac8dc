#!/usr/bin/env bash
# Create .venv and install the project with its test tools.
# Where there is no NVIDIA GPU, torch's CPU build is installed first so that the
# `torch` requirement never drags gigabytes of CUDA wheels onto the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${PIP[@]}" install "torch==${TORCH_VERSION}"
  else
    "${PIP[@]}" install "torch==${TORCH_VERSION}+cpu" \
      --extra-index-url https://download.pytorch.org/whl/cpu --timeout 20 --retries 1
  fi
fi
"${PIP[@]}" install -e ".[dev]"
