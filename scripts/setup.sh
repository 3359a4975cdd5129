#!/usr/bin/env bash
# Create .venv (once) and install the Python dependencies into it. Usage: scripts/setup.sh [dev]
# TORCH_SPEC picks the PyTorch build (default torch==2.13.0; e.g. TORCH_SPEC=torch for the newest).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
req=requirements.txt
[ "${1:-}" = dev ] && req=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)-${1:-run}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
  .venv/bin/python -m pip install -q -r "$req"
  # lfm itself, editable, so `python -m lfm train` works from any folder (e.g. one holding your JSON files)
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
