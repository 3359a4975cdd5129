#!/usr/bin/env bash
# Start the LFM Entropy Lab dashboard (sets up .venv on first use). Extra arguments go to streamlit.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/streamlit run streamlit_app.py "$@"
