"""The browser tests' guard: without Chromium they skip, saying why, except under CI, where they fail."""

import pytest

from browser_support import require_chromium

NOWHERE = "/nonexistent/chromium"


def test_a_missing_chromium_skips_with_the_reason():
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        require_chromium(NOWHERE, environ={})


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_chromium_fails_under_ci(ci):
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium(NOWHERE, environ={"CI": ci})


def test_a_present_chromium_lets_the_test_run(tmp_path):
    browser = tmp_path / "chromium"
    browser.touch()
    require_chromium(str(browser), environ={"CI": "true"})  # returns: neither skip nor fail
