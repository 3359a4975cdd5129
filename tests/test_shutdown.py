"""Stopping the dashboard (SIGTERM, as systemd or `docker stop` send it) stops and saves its runs, records
its queued runs as cancelled, and the server exits cleanly instead of aborting inside torch's native code."""

import json
import signal

import pytest

from lfm.lab.sweep import new_group_id
from lfm.store.writer import record_cancelled
from support import open_app, wait_for
from tiny import TINY_CONFIG


@pytest.fixture(autouse=True)
def one_run_at_a_time(monkeypatch):
    """The dashboard trains one run at a time (autouse: set before the dashboard_server fixture starts it),
    so a second Start waits in the queue."""
    monkeypatch.setenv("LFM_MAX_CONCURRENT", "1")


def test_sigterm_stops_and_saves_the_dashboards_run_records_the_queued_one_and_exits_cleanly(
        dashboard_server, browser_page):
    server, page = dashboard_server, browser_page
    page.goto(f"{server.url}/?num_epochs=5000&num_samples=64&token_dim=8&channel_dim=8&expert_dim=8&adapt_dim=4")
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    start = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start")
    start.click()
    runs = server.runs_dir
    wait_for(lambda: any(p.read_text().count("\n") >= 2 for p in runs.glob("*/metrics.csv")), 90, "a logged step")
    (run,) = [p.parent for p in runs.glob("*/config.json")]
    start.click()  # a second run, queued behind the first: at most one trains at once
    page.get_by_text("1 run(s) queued").wait_for(timeout=60_000)
    assert [p.parent for p in runs.glob("*/config.json")] == [run]  # queued runs have no folder yet

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped" and "because the dashboard shut down" in status["reason"]
    assert (run / "checkpoint.pt").is_file()
    (queued,) = [p.parent for p in runs.glob("*/config.json") if p.parent != run]
    status = json.loads((queued / "status.json").read_text())
    assert status["state"] == "cancelled"
    assert status["reason"] == "cancelled because the dashboard shut down before it started"
    assert sorted(p.name for p in queued.iterdir()) == ["config.json", "status.json"]  # nothing trained
    assert json.loads((queued / "config.json").read_text())["hyperparameters"]["token_dim"] == 8  # its settings
    assert "terminate called" not in server.log.read_text()


@pytest.mark.parametrize("page", [None, "pages/runs.py", "pages/compare.py", "pages/sweep.py", "pages/lessons.py",
                                  "pages/explore.py"])
def test_a_cancelled_run_is_listed_as_cancelled_and_no_page_raises(runs_dir, page):
    """What a shutdown leaves of a queued run: settings and a status, no metrics, gates or checkpoint."""
    reason = "cancelled because the dashboard shut down before it started"
    record_cancelled(runs_dir, TINY_CONFIG.to_dict(), reason, name="waited", meta={"group": new_group_id()})
    at = open_app(page)
    assert not at.exception
    if page is None:  # Train & watch: the record is shown, its controls are off
        assert any("waited · cancelled" in label for label in at.selectbox(key="watch").options)
        assert next(b for b in at.button if b.label == "Stop").disabled
    if page in (None, "pages/runs.py"):
        assert any("cancelled" in m.value and reason in m.value for m in at.markdown)
    if page == "pages/runs.py":
        assert list(at.dataframe[0].value["state"]) == ["cancelled"]
