"""What the real-browser tests share besides waiting (tests/support.py): the browser, and whether a dashboard answers."""

import urllib.request

CHROMIUM = "/usr/bin/chromium"  # Debian's package (test.sh installs it); Playwright drives it, no download
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]  # the machine's closed network refuses Chrome's own calls


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
