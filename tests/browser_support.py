"""What the real-browser tests share besides waiting (tests/support.py): the browser, and whether a dashboard answers."""

import os
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package (test.sh installs it); Playwright drives it, no download
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]  # the machine's closed network refuses Chrome's own calls


def require_chromium(path: str = CHROMIUM, environ=os.environ) -> None:
    """Skip the calling test, saying why, when Chromium is missing; fail it instead under CI.

    A student's laptop or a container may be unable to install Chromium, and the rest of the suite
    still says something there. CI (the environment variable CI set, as CI services do) can install
    it, so a missing browser there is a broken set-up, not a reason to skip."""
    if Path(path).exists():
        return
    missing = f"{path} is missing: apt-get install chromium (test.sh does it when it may)"
    if environ.get("CI"):
        pytest.fail(f"{missing}; CI is set, so the browser tests must run")
    pytest.skip(f"{missing}; browser test skipped (under CI it fails instead)")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
