"""Real-browser test of the Sweep λ page: `streamlit run streamlit_app.py`, headless Chromium, a 3-run sweep.

Tiny model settings come in through the URL (the sidebar's widgets are bound to query parameters named
after the settings); the grid (λ from -0.3 to 0.3, 3 values, seed 0) is typed into the sweep form, then
Launch. When the page says 3 of 3 runs are done, the summary chart (drawn as SVG) must hold one dot per run
in its left panel (validation loss) and one per run and series in its right panel (routing entropy and
specialisation), at the grid's three λ values. A screenshot goes to test-artifacts/sweep.png.

The dashboard server and browser page are the fixtures of tests/conftest.py.
"""

import re
import time
from pathlib import Path

import pytest

from lfm.store import RunReader
from support import wait_for

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "test-artifacts" / "sweep.png"
TINY_URL = "token_dim=8&channel_dim=8&expert_dim=8&adapt_dim=4&num_samples=64&num_epochs=1&log_every=1"
GRID = {"λ from": "-0.3", "λ to": "0.3", "Number of λ values": "3", "Seeds": "0"}
LAMBDAS = [-0.3, 0.0, 0.3]


def settled(page) -> bool:
    """No script run in progress (status widget) and no element left over from a previous run (stale)."""
    return (page.locator('[data-testid="stStatusWidget"]').count() == 0
            and page.locator('[data-stale="true"]').count() == 0)


def wait_settled(page, timeout: float = 30) -> None:
    """Wait until the page has been settled for 1 s in a row (a rerun can follow right after another)."""
    since = [None]

    def calm():
        if not settled(page):
            since[0] = None
            return False
        since[0] = since[0] or time.monotonic()
        return time.monotonic() - since[0] >= 1.0

    wait_for(calm, timeout, "the page to finish rerunning", every=0.1)


def lambdas_of(marks) -> list[float]:
    """The λ of each SVG mark, from its aria-label ("lambda_entropy: −0.3; ..."; Vega writes U+2212)."""
    found = []
    for label in marks.evaluate_all("els => els.map(e => e.getAttribute('aria-label') || '')"):
        match = re.search(r"lambda_entropy: ([^;]+)", label)
        assert match, f"a mark without its λ: {label!r}"
        found.append(float(match.group(1).replace("\u2212", "-")))
    return sorted(found)


def test_launch_a_three_run_sweep_and_see_its_summary(dashboard, browser_page):
    url, runs_dir = dashboard
    page = browser_page
    started = time.monotonic()
    page.goto(f"{url}/sweep?{TINY_URL}")
    main = page.get_by_test_id("stMainBlockContainer")  # the page itself, not the sidebar or header

    # 1. the grid: each value committed with Enter, which reruns the page before the next one
    for label, value in GRID.items():
        field = main.get_by_label(label, exact=True)
        field.wait_for(timeout=60_000)
        field.fill(value)
        field.press("Enter")
        wait_for(lambda: field.input_value() == value, 10, f"{label} = {value}")
    plan = main.locator('[data-testid="stMarkdown"]').filter(has_text="= 3 runs")
    wait_for(lambda: plan.count() == 1, 30, "the plan of 3 runs")
    wait_settled(page)
    assert "λ = -0.3, 0, 0.3" in plan.inner_text()
    assert main.get_by_text("No sweeps yet", exact=False).count() == 1

    # 2. Launch, and wait for the page to report all three runs done
    main.get_by_role("button", name="Launch").click()
    wait_for(lambda: main.get_by_text("3 of 3 runs done", exact=False).count() > 0, 120, "3 of 3 runs done")
    wait_settled(page)
    progress = main.get_by_text("3 of 3 runs done", exact=False).inner_text()
    assert "stopped or failed" not in progress and "0 running" in progress and "0 queued" in progress

    # 3. the summary chart: one dot per run on the left, one per run and series on the right
    chart = main.locator('[data-testid="stVegaLiteChart"]')
    assert chart.count() == 1
    left = chart.locator("g.concat_0_group g.mark-symbol.role-mark path")
    right = chart.locator("g.concat_1_group g.mark-symbol.role-mark path")
    wait_for(lambda: left.count() == 3 and right.count() == 6, 15,
             f"3 + 6 dots (have {left.count()} + {right.count()})")
    assert lambdas_of(left) == pytest.approx(LAMBDAS)
    assert lambdas_of(right) == pytest.approx(sorted(LAMBDAS * 2))
    for series in ("routing entropy", "specialisation"):
        assert right.and_(page.locator(f'[aria-label*="series: {series};"]')).count() == 3, series
    assert page.locator('[data-testid="stException"]').count() == 0

    # 4. the run store agrees: three finished runs of one sweep, with the URL's model and the grid's λ
    runs = RunReader(runs_dir).list_runs()
    assert sorted(r.state for r in runs) == ["finished"] * 3
    assert len({r.meta.get("group") for r in runs}) == 1
    assert sorted(r.config["hyperparameters"]["lambda_entropy"] for r in runs) == pytest.approx(LAMBDAS)
    assert {r.config["hyperparameters"]["token_dim"] for r in runs} == {8}
    assert {r.config["training"]["seed"] for r in runs} == {0}

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"sweep page: launched, finished and drawn in {time.monotonic() - started:.1f} s; screenshot {SCREENSHOT}")
