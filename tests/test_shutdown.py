"""Stopping the dashboard (SIGTERM, as systemd or `docker stop` send it) stops and saves its runs, and
the server exits cleanly instead of aborting inside torch's native code."""

import json
import signal

from support import wait_for


def test_sigterm_stops_and_saves_the_dashboards_run_and_exits_cleanly(dashboard_server, browser_page):
    server, page = dashboard_server, browser_page
    page.goto(f"{server.url}/?num_epochs=5000&num_samples=64&token_dim=8&channel_dim=8&expert_dim=8&adapt_dim=4")
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start").click()
    runs = server.runs_dir
    wait_for(lambda: any(p.read_text().count("\n") >= 2 for p in runs.glob("*/metrics.csv")), 90, "a logged step")
    (run,) = [p.parent for p in runs.glob("*/config.json")]

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped" and "because the dashboard shut down" in status["reason"]
    assert (run / "checkpoint.pt").is_file()
    assert "terminate called" not in server.log.read_text()
