"""Real-browser test of the Lessons page: `streamlit run streamlit_app.py`, headless Chromium, tiny settings.

Tiny model settings come in through the URL (the sidebar's widgets are bound to query parameters named after
the settings). "Run the lessons" trains every lesson whose preset exists; when the page says every lesson
is judged, each card must show its rule and a verdict, and draw its two charts (the expert × regime matrix
and the entropy curves) as SVG. A screenshot goes to test-artifacts/lessons.png.

The dashboard server and browser page are the fixtures of tests/conftest.py.
"""

import re
import time
from pathlib import Path

from support import wait_for
from lfm.config import load_presets
from lfm.lab.lessons import available_lessons
from lfm.store import RunReader

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "test-artifacts" / "lessons.png"
TINY_URL = "token_dim=8&channel_dim=8&expert_dim=8&adapt_dim=4&num_samples=64&num_epochs=2&log_every=1"


def test_run_the_lessons_to_their_verdicts(dashboard, browser_page):
    url, runs_dir = dashboard
    page = browser_page
    ready, missing = available_lessons(load_presets())
    started = time.monotonic()
    page.goto(f"{url}/lessons?{TINY_URL}")
    main = page.get_by_test_id("stMainBlockContainer")  # the page itself, not the sidebar or header
    button = main.get_by_role("button", name="Run the lessons")
    button.wait_for(timeout=60_000)
    wait_for(lambda: main.get_by_text("No lesson sets yet", exact=False).count() == 1, 30, "the empty page")
    for lesson in missing:
        assert main.get_by_text(f"Skipped: {lesson.name}.", exact=False).count() == 1

    button.click()
    judged = main.get_by_text(f"All {len(ready)} lessons judged", exact=False)
    wait_for(lambda: judged.count() == 1, 240, "every lesson judged")
    wait_for(lambda: page.locator('[data-testid="stStatusWidget"]').count() == 0, 30, "the page to settle")
    assert page.locator('[data-testid="stException"]').count() == 0

    # every card: its rule, a verdict, and two charts drawn as SVG (waited for: the page redraws once
    # more when the set has ended)
    def rules_shown() -> int:
        # the rule's conclusion ("collapse observed"): the markdown renderer may set "<=" or ">=" as one sign
        return sum(main.get_by_text(lesson.rule.text().split(": ", 1)[-1], exact=False).count() >= 1
                   for lesson in ready)

    wait_for(lambda: rules_shown() == len(ready), 90, f"the {len(ready)} rules (have {rules_shown()})")
    verdicts = main.locator('[data-testid="stAlert"]').filter(has_text=re.compile(r"(Shown|Not shown): .*Final:"))
    wait_for(lambda: verdicts.count() == len(ready), 30, f"{len(ready)} verdicts (have {verdicts.count()})")
    charts = main.locator('[data-testid="stVegaLiteChart"]')
    wait_for(lambda: charts.locator("svg.marks").count() == 2 * len(ready), 30,
             f"{2 * len(ready)} charts drawn as SVG (have {charts.locator('svg.marks').count()})")
    # the sheet for slides (tests/test_lesson_charts.py draws one; Debian's headless Chromium cancels
    # downloads, and Streamlit serves a pressed button's file only once)
    assert main.get_by_role("button", name="Sheet for slides (PNG)").count() == 1

    # the run store agrees: one finished run per lesson, one group, the URL's model
    runs = RunReader(runs_dir).list_runs()
    assert sorted(r.state for r in runs) == ["finished"] * len(ready)
    assert len({r.meta.get("group") for r in runs}) == 1
    assert {r.config["hyperparameters"]["token_dim"] for r in runs} == {8}

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"lessons page: run, judged and drawn in {time.monotonic() - started:.1f} s; screenshot {SCREENSHOT}")
