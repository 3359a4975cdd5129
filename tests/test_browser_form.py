"""Real-browser test of the settings form: a number the browser cannot hold as an integer is refused.

Streamlit's integer widget neither sends a value beyond JavaScript's safe integers (2^53) nor keeps one
on the Python side, so 99999999999999999999 typed into batch_size stayed on screen while the run
trained 16, without a word. The form's number widgets are float ones now (ui/settings.py): the value
reaches lfm.config, whose message names the setting, and Start is disabled.
"""

from support import wait_for


def test_a_number_too_large_for_the_browser_is_refused_not_replaced(dashboard, browser_page):
    url, _ = dashboard
    page = browser_page
    page.goto(url)
    training = page.get_by_text("Training", exact=True).first
    training.wait_for(timeout=120_000)  # a first page load on a busy 2-core machine can take a while
    training.click()
    field = page.get_by_role("spinbutton", name="batch_size")
    field.wait_for(timeout=60_000)
    field.fill("99999999999999999999")
    field.press("Enter")
    sidebar = page.locator("section[data-testid='stSidebar']")
    wait_for(lambda: "batch_size = 100000000000000000000 is out of range" in sidebar.inner_text(), 90,
             "the form's message about batch_size")
    assert page.get_by_role("button", name="Start").is_disabled()
