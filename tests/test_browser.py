"""Real-browser test: `streamlit run streamlit_app.py`, headless Chromium, a preset, Start, Pause, Stop.

Vega-Lite charts are drawn as SVG here (we ask for the SVG renderer), so the gate heatmap's cells are
`g.mark-rect.role-mark path` elements we can count as training adds steps: in the live grid
(ui.live_charts) while a run trains, in Streamlit's own charts once it has ended. A screenshot of the page
is saved to test-artifacts/ for people to look at. The server and page are tests/conftest.py's fixtures.
"""

import json
import time
from pathlib import Path

import pytest

from support import wait_for, wait_for_paused, wait_for_status_writes

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PRESET = "Sharpen (lambda > 0)"  # sets lambda only: the URL's 500 epochs stay, so the run outlasts the test


def heatmap_cells(page) -> int:
    """Cells of the 'expert load over training' heatmap, the third live chart: in the live grid while the
    run trains (scrolled into view, where the grid brings a chart up to date), else Streamlit's own."""
    charts = page.locator('[data-testid="lfmLiveChart"], [data-testid="stVegaLiteChart"]')
    if charts.count() < 3:
        return 0
    charts.nth(2).scroll_into_view_if_needed()
    return charts.nth(2).locator("g.mark-rect.role-mark path").count()


def test_preset_start_watch_pause_stop(dashboard, browser_page):
    (url, runs_dir), page = dashboard, browser_page
    # small model, long run: it must still be training when we pause and stop it
    page.goto(f"{url}/?num_epochs=500&num_samples=400&token_dim=16&channel_dim=16&expert_dim=16&adapt_dim=8")
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)

    # 1. choose a classroom preset from the sidebar
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Preset").click()
    page.get_by_role("option", name=PRESET).click()
    lambda_box = page.locator('[data-testid="stSidebar"] input[aria-label="lambda_entropy"]')
    wait_for(lambda: float(lambda_box.input_value()) == 0.3, 10, "the preset's lambda in the form")
    epochs_box = page.locator('[data-testid="stSidebar"] input[aria-label="num_epochs"]')
    assert int(float(epochs_box.input_value())) == 500, "a preset that sets num_epochs would end the run early"

    main = page.get_by_test_id("stMainBlockContainer")  # the page's own buttons, not Streamlit's header

    # 2. Start, then watch the gate heatmap gain cells while it trains
    main.get_by_role("button", name="Start").click()
    wait_for(lambda: heatmap_cells(page) > 0, 30, "the first heatmap cells")
    first = heatmap_cells(page)
    wait_for(lambda: heatmap_cells(page) > first, 30, "the heatmap to grow")
    assert page.locator('[data-testid="stException"]').count() == 0

    # 3. Pause: the status says so and the heatmap stops growing. The parked loop marks status.json
    #    paused and rewrites it once a second; two such heartbeats later the page, redrawn every second,
    #    has drawn its last record.
    main.get_by_role("button", name="Pause").click()
    wait_for(lambda: main.get_by_role("button", name="Resume").count() > 0, 15, "the Resume button")
    paused_at = time.time()
    assert "paused" in page.locator('[data-testid="stMarkdown"]').filter(has_text="Status").inner_text()
    run_dir = next(runs_dir.glob("*/status.json")).parent
    parked = wait_for_paused(run_dir, paused_at)
    drawn = wait_for_status_writes(run_dir, parked["updated"], count=2)
    paused_cells = heatmap_cells(page)
    wait_for_status_writes(run_dir, drawn["updated"], count=2)
    assert heatmap_cells(page) == paused_cells

    # 4. Stop: the run ends as stopped, with its reason
    main.get_by_role("button", name="Stop").click()
    wait_for(lambda: page.get_by_text("stopped by the user", exact=False).count() > 0, 30, "status 'stopped'")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "train_and_watch.png"), full_page=True)
    status = (next(runs_dir.glob("*/status.json"))).read_text()
    assert '"state": "stopped"' in status


@pytest.fixture
def short_orphan_grace(monkeypatch):
    """The dashboard under test stops unwatched runs 2 s after the last tab closes (30 s by default)."""
    monkeypatch.setenv("LFM_ORPHAN_GRACE_S", "2")


def test_closing_every_tab_stops_the_run(short_orphan_grace, dashboard, browser_page):
    (url, runs_dir), page = dashboard, browser_page
    page.goto(f"{url}/?num_epochs=500&token_dim=8&channel_dim=8&expert_dim=8&adapt_dim=4")
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start").click()
    status = lambda: json.loads(next(runs_dir.glob("*/status.json")).read_text())  # noqa: E731
    wait_for(lambda: list(runs_dir.glob("*/status.json")) and status()["state"] == "running", 30, "the run")
    page.close()  # the only tab
    wait_for(lambda: status()["state"] != "running", 60, "the unwatched run to stop")
    assert status()["state"] == "stopped" and "no browser tab open" in status()["reason"]
