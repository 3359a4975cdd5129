#!/usr/bin/env bash
# Create .venv (once) and install the project into it, editable, with its dependencies (pyproject.toml).
# Usage: scripts/setup.sh [dev] [--cpu]
#   dev     also what the tests need (the "dev" extra: pytest, Playwright)
#   --cpu   take PyTorch from PyTorch's CPU-only index: a 0.2 GB download instead of the 2.7 GB that
#           PyPI's Linux (CUDA) build brings along (README, "Installing"); the same as TORCH_CPU=1
# TORCH_SPEC picks the PyTorch version (default torch==2.13.0, the one we test with; e.g. TORCH_SPEC=torch
# for the newest). PyTorch is installed only when .venv has none: to change it, delete .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CPU_INDEX=https://download.pytorch.org/whl/cpu
extra=run
for arg in "$@"; do
  case "$arg" in
    dev) extra=dev ;;
    --cpu) TORCH_CPU=1 ;;
    *) echo "scripts/setup.sh: unknown argument '$arg' (usage: scripts/setup.sh [dev] [--cpu])" >&2; exit 2 ;;
  esac
done
req=requirements.txt
[ "$extra" = dev ] && req=requirements-dev.txt
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)-$extra"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    if [ "${TORCH_CPU:-}" = 1 ]; then
      .venv/bin/python -m pip install -q --index-url "$CPU_INDEX" "${TORCH_SPEC:-torch==2.13.0}"
    else
      .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
    fi
  fi
  # requirements*.txt install this project, editable (`python -m lfm` and `lfm` then work from any
  # folder, e.g. one holding your JSON files), with the dependencies pyproject.toml lists
  .venv/bin/python -m pip install -q -r "$req"
  touch "$stamp"
fi
