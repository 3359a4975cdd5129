"""A newcomer's first chart: Start pressed on a fresh dashboard -> first live chart, -> all 7, per backend.

Where a page-started run trains decides what its first seconds cost: a thread of the server starts at
once; a worker process must first be spawned and import torch (once per dashboard). This bench measures
what a user sees, so the dashboard's default backend (ui/state.py, LFM_BACKEND) is chosen by numbers:

1. For each repetition and each backend (alternating, so a busy spell hits both alike): a fresh
   dashboard (`streamlit run streamlit_app.py`, LFM_BACKEND=<backend>, an empty runs folder), one tab of
   headless Chromium on Train & watch (VIEWPORT: tall enough to show all 7 charts), the default preset.
2. Start pressed; a script in the page samples every SAMPLE_S and notes, in seconds after the click,
   the first live chart drawn (a Vega-Lite chart with marks in its SVG) and all 7 drawn.
3. One line per measurement, then the median per backend, with the machine's load average.

Usage: .venv/bin/python bench/bench_first_chart.py [--backends thread,process] [--repeats 2]
Needs Debian's chromium and the playwright package (requirements-dev.txt).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_load import CHARTS_JS, CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, healthy, stop_server, wait_for

SAMPLE_S = 0.05
VIEWPORT = {"width": 1500, "height": 3200}  # every chart in view: the live grid draws a chart once it is
CHARTS = 7  # the live view's charts on the default preset (ui/live.py LAYOUT)
DEADLINE_S = 120.0

# Installed before the page's own script; armed by the click, it notes when charts are drawn.
PROBE = """
(() => {
  const log = {clicked: null, first: null, all: null};
  window.__lfmFirst = log;
  """ + CHARTS_JS + """
  setInterval(() => {
    if (log.clicked === null) return;
    const now = performance.now();
    const drawn = pageCharts().filter(chart => chart.querySelector('svg g.role-mark path')).length;
    if (drawn >= 1 && log.first === null) log.first = now - log.clicked;
    if (drawn >= %d && log.all === null) log.all = now - log.clicked;
  }, %d);
})();
""" % (CHARTS, int(SAMPLE_S * 1000))


def measure(browser, backend: str) -> tuple[float | None, float | None]:
    """(seconds to the first chart, to all of them) after Start on a fresh dashboard training on `backend`."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "LFM_RUNS_DIR": str(Path(tmp) / "runs"), "LFM_BACKEND": backend}
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(lambda: server.poll() is not None or healthy(url) is not None, 60, "the server")
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(PROBE)
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(url, timeout=120_000)
            start = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start")
            start.wait_for()
            page.wait_for_selector("text=No runs yet")  # the page has settled: Start acts at once
            page.evaluate("window.__lfmFirst.clicked = performance.now()")
            start.click()
            try:
                wait_for(lambda: page.evaluate("window.__lfmFirst.all") is not None, DEADLINE_S, "all charts")
            except TimeoutError:
                pass  # reported as missing
            log = page.evaluate("window.__lfmFirst")
            context.close()
            seconds = lambda ms: None if ms is None else ms / 1000  # noqa: E731
            return seconds(log["first"]), seconds(log["all"])
        finally:
            stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="thread,process", help="comma-separated: thread, process")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    backends = args.backends.split(",")

    from playwright.sync_api import sync_playwright

    results: dict[str, list[tuple]] = {b: [] for b in backends}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        print("backend | Start -> first chart | -> all 7 charts | load avg (seconds)", flush=True)
        for _ in range(args.repeats):
            for backend in backends:
                first, every = measure(browser, backend)
                results[backend].append((first, every))
                shown = lambda v: "none" if v is None else f"{v:.2f}"  # noqa: E731
                print(f"{backend:>7} | {shown(first):>20} | {shown(every):>15} | {os.getloadavg()[0]:.1f}",
                      flush=True)
        browser.close()
    for backend, rows in results.items():
        firsts = [f for f, _ in rows if f is not None]
        alls = [a for _, a in rows if a is not None]
        print(f"{backend:>7} median | {statistics.median(firsts) if firsts else float('nan'):>13.2f} | "
              f"{statistics.median(alls) if alls else float('nan'):>15.2f} |")


if __name__ == "__main__":
    main()
