#!/usr/bin/env bash
# Run the whole test suite (sets up .venv and Debian's chromium on first use). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh dev
if [ ! -x /usr/bin/chromium ]; then
  # The browser tests drive Debian's chromium; install it when we may (root, or passwordless sudo).
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null \
    || echo "test.sh: could not install chromium; browser tests will skip (or fail, when CI is set)" >&2
fi
exec .venv/bin/python -m pytest "$@"
