"""What the real-browser tests share: waiting with a deadline, and whether a dashboard answers."""

import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"  # Debian's package (test.sh installs it); Playwright drives it, no download
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]  # the machine's closed network refuses Chrome's own calls


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    """predicate()'s first truthy value within timeout seconds, else an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(every)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
