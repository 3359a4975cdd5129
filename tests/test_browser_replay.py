"""Real-browser test of the replay on the Runs page: a finished run's snapshots, stepped by the Play button.

A 40-snapshot run is written into the dashboard's run store (RunWriter, as training writes it); the Runs page
shows its newest snapshot first, Play starts from the first and steps forward by itself, and Pause stops it.
A screenshot of the replay goes to test-artifacts/replay.png.
"""

import re
from pathlib import Path
from types import SimpleNamespace

from support import wait_for
from test_replay import short_run

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "test-artifacts" / "replay.png"
STEP = re.compile(r"Training step ([\d,]+) \(snapshot (\d+) of (\d+)\)")


def test_play_steps_through_the_snapshots(dashboard, browser_page):
    url, runs_dir = dashboard
    writer = short_run(runs_dir, steps=range(5, 205, 5))
    writer.on_train_end(SimpleNamespace(status="finished", reason="done", steps=200))
    page = browser_page
    page.goto(f"{url}/runs")
    main = page.get_by_test_id("stMainBlockContainer")
    caption = main.get_by_text(STEP)

    def shown() -> tuple[int, int]:
        match = STEP.search(caption.inner_text()) if caption.count() == 1 else None
        return (int(match.group(1).replace(",", "")), int(match.group(2))) if match else (0, 0)

    wait_for(lambda: shown() == (200, 40), 60, "the newest snapshot")
    main.get_by_role("button", name="Play", exact=True).click()
    wait_for(lambda: 1 < shown()[1] < 40, 120, "play to move on from the first snapshot")
    seen = shown()
    wait_for(lambda: shown()[1] > seen[1], 60, "play to step again")
    main.get_by_role("button", name="Pause", exact=True).click()
    wait_for(lambda: main.get_by_role("button", name="Play", exact=True).count() == 1, 60, "the Play button back")
    assert page.locator('[data-testid="stException"]').count() == 0
    charts = main.locator('[data-testid="stVegaLiteChart"]')
    assert charts.count() >= 6 + 6  # the run's own charts, then the replay's six

    SCREENSHOT.parent.mkdir(exist_ok=True)
    main.get_by_text("Replay", exact=True).first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
