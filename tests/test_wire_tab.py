"""bench/wire_tab.py speaks the dashboard's websocket protocol as a page does: bench_load.py's tabs without a
browser rely on it, and Streamlit changes its protocol between releases, so it is checked against the real
server here: it loads the page, receives the charts, and reruns the live fragment on the server's timer."""

import os
import subprocess
import sys
from pathlib import Path

from lfm.store import RunReader
from support import stop_process, wait_for, wait_for_runs
from tiny import TINY_SETTINGS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from wire_tab import WireTab  # noqa: E402


def test_a_wire_tab_loads_the_page_and_follows_a_live_run(dashboard_server):
    runs_dir = dashboard_server.runs_dir
    sets = [x for k, v in {**TINY_SETTINGS, "num_epochs": 5000}.items()
            for x in ("--set", f"{k}={v}")]
    cli = subprocess.Popen([sys.executable, "-m", "lfm", "train", "--quiet", "--runs-dir", str(runs_dir), *sets],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    tab = WireTab(dashboard_server.url)
    try:
        (run,) = wait_for_runs(runs_dir, ("running",))
        wait_for(lambda: RunReader(runs_dir).last_metrics(run.run_id), 60, "the run's first log step")
        tab.connect()
        wait_for(lambda: tab.page_load is not None and tab.first_chart is not None, 60, "the page and a chart")
        seen = len(tab.changes)
        # the live view reruns every second on the tab's own timer (nothing else asks for it here)
        wait_for(lambda: len(tab.changes) >= seen + 3, 60, "three refreshes of the progress line")
        assert tab.error is None
        assert 0 < tab.page_load <= tab.first_chart and tab.changes == sorted(tab.changes)
    finally:
        tab.close()
        stop_process(cli)
