"""A page that stays responsive under load: page load and live refresh with 1, 6 and 12 tabs while runs train.

A classroom opens one dashboard in thirty tabs while the teacher's runs train. This bench measures what
each tab sees, on this machine, with headless Chromium:

1. A fresh dashboard (`streamlit run streamlit_app.py`, 127.0.0.1, a free port, LFM_RUNS_DIR a temporary
   folder). One tab presses **Start** RUNS times (default config, many epochs), so the runs train in the
   dashboard's own process, as a user's do; that tab is then closed.
2. For each tab count N: N tabs open the Train & watch page at once. A script in each page (installed
   before the page's own) samples the progress line every SAMPLE_S and records, in ms since that tab's
   navigation started:
     page load    the progress line first shown (the page's script ran and the live view answered);
     first chart  the first live chart drawn (a Vega-Lite chart with marks in its SVG);
     refreshes    every change of the progress line (step, epoch, samples/s): what the user sees move;
     redraws      every change of the first live chart's first line (its SVG path): the chart moving.
   After every tab has drawn a chart, the next WINDOW_S seconds are the refresh window; a tab's refresh
   interval is the median gap between changes in that window (the longest gap is shown too).
   With --browsers K, only K of the N tabs are Chromium tabs and the others WireTabs (bench/wire_tab.py):
   clients that speak Streamlit's websocket protocol as the page does (load, fragment reruns on their
   timer) but draw nothing. That is a classroom as the server sees it, the students' browsers drawing on
   their own laptops: every Chromium tab on this machine also takes a share of the server's 2 cores.
3. A table: tabs (and how many in Chromium), page load median/max, first chart median/max, refresh
   interval median (over tabs' medians) / worst tab's median / longest gap, the same for the chart's
   redraws (Chromium tabs only; a tab whose chart did not move in the window counts the window), the
   cores the server process itself used in the window (its threads, training threads included; not its
   worker processes), the cores the Chromium processes used, and the machine's load average. A mixed set gets a second row:
   the Chromium tabs alone (what a person at one of them sees).
4. Then one Chromium tab reloads while the others go on refreshing (a student pressing F5 in a class
   already watching): its page load and first chart, the last column.

Bounded: at most MAX_TABS tabs, each wait has a deadline, the server is stopped at the end.
Usage: .venv/bin/python bench/bench_load.py [--tabs 1,6,12] [--runs 2] [--window 20] [--browsers all|K]
       [--backend thread|process] (LFM_BACKEND for the server: where dashboard runs train)
Needs Debian's chromium, and the playwright and websockets packages (requirements-dev.txt).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from wire_tab import WireTab

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]
MAX_TABS = 30
SAMPLE_S = 0.25  # how often each page samples its progress line
LOAD_DEADLINE_S = 90.0  # a tab that shows no chart by then is reported as such

# pageCharts(): the page's charts, in page order: Streamlit's own, and those of the live grid
# (ui.live_charts, inside its component's shadow root). For the probes here and in bench_first_chart.py.
CHARTS_JS = """
const pageCharts = () => [
  ...document.querySelectorAll('[data-testid="stVegaLiteChart"]'),
  ...[...document.querySelectorAll('.stBidiComponent')]
    .flatMap((host) => [host, ...host.querySelectorAll('*')]).filter((node) => node.shadowRoot)
    .flatMap((node) => [...node.shadowRoot.querySelectorAll('[data-testid="lfmLiveChart"]')]),
];
"""

# Runs in every page before Streamlit's own script: samples the progress line and notes the first chart.
PROBE = """
(() => {
  const log = {progress: null, chart: null, changes: [], last: null, chartChanges: [], lastChart: null};
  window.__lfmLoad = log;
  const MARK = 'svg g.role-mark path';
  """ + CHARTS_JS + """
  // the first chart's first mark
  const firstMark = () => {
    for (const chart of pageCharts()) {
      const mark = chart.querySelector(MARK);
      if (mark) return mark;
    }
    return null;
  };
  setInterval(() => {
    const now = performance.now();
    const bar = document.querySelector('[data-testid="stProgress"]');
    const text = bar ? bar.innerText : null;
    if (text && text.includes('step') && log.progress === null) log.progress = now;
    if (text && text !== log.last) { log.changes.push(now); log.last = text; }
    const mark = firstMark();
    if (mark && log.chart === null) log.chart = now;
    const drawn = mark ? mark.getAttribute('d') : null;  // the chart's first line: it moves with new data
    if (drawn && drawn !== log.lastChart) { log.chartChanges.push(now); log.lastChart = drawn; }
  }, %d);
})();
""" % int(SAMPLE_S * 1000)


class TabFigures(NamedTuple):
    page_load_s: float | None  # navigation start -> progress line shown
    first_chart_s: float | None  # navigation start -> first live chart drawn
    refresh_s: float | None  # median gap between changes of the progress line in the window
    longest_gap_s: float | None  # the longest such gap (from the window's start, to its end)
    chart_refresh_s: float | None  # median gap between redraws of the first chart's line (None: no drawing)


class Row(NamedTuple):
    tabs: int  # tabs open
    browsers: int  # how many of them were Chromium tabs (the rest WireTabs)
    over: str  # which tabs the figures are over: "all", or "Chromium" (the Chromium tabs of a mixed set)
    load_median: float
    load_max: float
    chart_median: float
    chart_max: float
    refresh_median: float
    refresh_worst: float
    longest_gap: float
    chart_refresh_median: float  # over the Chromium tabs (WireTabs draw nothing)
    chart_refresh_worst: float
    missing: int  # tabs that never drew a chart before the deadline
    server_cores: float  # CPU the server process used in the window (its own threads, not its workers)
    browser_cores: float  # CPU the bench's Chromium processes used in the window (drawing the tabs)
    load_average: float
    reload_s: float  # after the window, one Chromium tab reloaded while the others go on refreshing:
    reload_chart_s: float  # its page load and first chart (NaN for a row without Chromium tabs)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(every)
    return value


def stop_server(server: subprocess.Popen) -> None:
    """Stop the dashboard: SIGTERM (it stops and saves its runs), SIGKILL if it is not gone in 20 s."""
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def healthy(url: str) -> float | None:
    """Seconds the health check took, None if the server does not answer."""
    import urllib.request

    start = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
            return time.perf_counter() - start if response.status == 200 else None
    except OSError:
        return None


def running_runs(runs_dir: Path) -> int:
    """Runs that have logged at least one metrics row."""
    return sum(len(p.read_text().splitlines()) > 1 for p in runs_dir.glob("*/metrics.csv"))


def start_runs(browser, url: str, runs_dir: Path, runs: int, epochs: int) -> None:
    """Press Start `runs` times in one tab, wait until each run logs, close the tab."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(120_000)  # a loaded machine
    page.goto(f"{url}/?num_epochs={epochs}", timeout=120_000)
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=120_000)
    start = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start")
    for n in range(1, runs + 1):
        start.click()
        wait_for(lambda: len(list(runs_dir.glob("*/config.json"))) >= n, 60, f"run {n} to be created")
    wait_for(lambda: running_runs(runs_dir) >= runs, 120, f"{runs} runs to log")
    page.close()


def _stat_cpu_seconds(stat: str) -> float:
    """User + system CPU seconds from the text of a /proc/PID/stat file."""
    fields = stat.rpartition(")")[2].split()  # after "(command)", which may itself hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def browser_cpu_seconds() -> float:
    """CPU seconds used so far by every Chromium process on the machine (the bench's tabs draw there)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        if "chrom" in text[text.find("(") + 1:text.rfind(")")].lower():  # its command name
            total += _stat_cpu_seconds(text)
    return total


def median_gap(times: list[float], window: tuple[float, float]) -> float | None:
    """The median gap between the times (ms) inside the window, None with fewer than two."""
    inside = [t for t in times if window[0] <= t <= window[1]]
    gaps = [b - a for a, b in zip(inside, inside[1:])]
    return statistics.median(gaps) if gaps else None


def tab_figures(log: dict, window: tuple[float, float]) -> TabFigures:
    """One tab's figures from its page log (ms since its navigation started); window in the same ms."""
    start, end = window
    inside = [t for t in log["changes"] if start <= t <= end]
    edges = [b - a for a, b in zip([start, *inside], [*inside, end])]  # incl. the window's ends
    ms = lambda v: None if v is None else v / 1000  # noqa: E731
    chart = None  # a WireTab draws nothing
    if "chartChanges" in log:  # a Chromium tab; one whose chart did not move counts the whole window
        gap = median_gap(log["chartChanges"], window)
        chart = ms(gap) if gap is not None else (end - start) / 1000
    return TabFigures(ms(log["progress"]), ms(log["chart"]), ms(median_gap(log["changes"], window)),
                      ms(max(edges)), chart)


def wire_log(tab: WireTab) -> dict:
    """A WireTab's record in the page probe's form (ms since the tab started)."""
    ms = lambda v: None if v is None else v * 1000  # noqa: E731
    return {"progress": ms(tab.page_load), "chart": ms(tab.first_chart), "changes": [t * 1000 for t in tab.changes]}


def summarise(tabs: int, browsers: int, figures: list[TabFigures], window_s: float, server_cores: float,
              browser_cores: float, load_average: float) -> Row:
    """One table row from the tabs' figures: medians over tabs, and the worst tab."""
    loads = [f.page_load_s for f in figures if f.page_load_s is not None]
    charts = [f.first_chart_s for f in figures if f.first_chart_s is not None]
    refresh = [f.refresh_s if f.refresh_s is not None else window_s for f in figures]
    drawn = [f.chart_refresh_s for f in figures if f.chart_refresh_s is not None]
    nan = float("nan")
    over = "all" if len(figures) == tabs else "Chromium"
    return Row(tabs, browsers, over, statistics.median(loads) if loads else nan, max(loads, default=nan),
               statistics.median(charts) if charts else nan, max(charts, default=nan),
               statistics.median(refresh), max(refresh), max(f.longest_gap_s for f in figures),
               statistics.median(drawn) if drawn else nan, max(drawn, default=nan), len(figures) - len(charts), server_cores, browser_cores, load_average, nan, nan)


def measure(browser, url: str, tabs: int, browsers: int, window_s: float, server_pid: int) -> list[Row]:
    """Open `tabs` tabs at once, `browsers` of them in Chromium and the rest as WireTabs, wait for each
    one's first chart, then watch them refresh for window_s. Rows: all tabs, then the Chromium tabs alone
    when the tabs are mixed."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.add_init_script(PROBE)
    pages = [context.new_page() for _ in range(browsers)]
    wires = [WireTab(url) for _ in range(tabs - browsers)]
    for page in pages:  # all tabs start loading together, as a class opening the link does
        page.goto(url, wait_until="commit", timeout=120_000)
    for wire in wires:
        wire.connect()
    logs = lambda: [page.evaluate("window.__lfmLoad") for page in pages]  # noqa: E731
    try:
        wait_for(lambda: all(log and log["chart"] is not None for log in logs())
                 and all(wire.first_chart is not None for wire in wires), LOAD_DEADLINE_S,
                 "a chart in every tab", every=0.5)
    except TimeoutError:
        pass  # counted as missing below
    load_before = os.getloadavg()[0]
    # the window, in each tab's own clock (ms since its navigation started / it connected)
    starts = [page.evaluate("performance.now()") for page in pages] + [wire.now() * 1000 for wire in wires]
    cpu_before, browser_before = cpu_seconds(server_pid), browser_cpu_seconds()
    time.sleep(window_s)
    server_cores = (cpu_seconds(server_pid) - cpu_before) / window_s
    browser_cores = (browser_cpu_seconds() - browser_before) / window_s
    load_average = (load_before + os.getloadavg()[0]) / 2
    figures = [tab_figures(log, (s, s + window_s * 1000))
               for log, s in zip(logs() + [wire_log(wire) for wire in wires], starts)]
    reload = reload_one(pages[0]) if pages else (float("nan"), float("nan"))
    context.close()
    for wire in wires:
        wire.close()
    rows = [summarise(tabs, browsers, figures, window_s, server_cores, browser_cores, load_average)]
    if 0 < browsers < tabs:
        rows.append(summarise(tabs, browsers, figures[:browsers], window_s, server_cores, browser_cores,
                              load_average))
    return [row._replace(reload_s=reload[0], reload_chart_s=reload[1]) for row in rows]


def reload_one(page) -> tuple[float, float]:
    """Reload one open tab while the others go on refreshing, as a student pressing F5 does: seconds to
    its progress line and to its first chart (NaN for what did not come before the deadline)."""
    page.reload(wait_until="commit", timeout=120_000)
    try:
        wait_for(lambda: (page.evaluate("window.__lfmLoad") or {}).get("chart") is not None, LOAD_DEADLINE_S,
                 "the reloaded tab's chart", every=0.25)
    except TimeoutError:
        pass
    log = page.evaluate("window.__lfmLoad") or {}
    seconds = lambda ms: float("nan") if ms is None else ms / 1000  # noqa: E731
    return seconds(log.get("progress")), seconds(log.get("chart"))


HEADER = ("{} runs training in the dashboard (backend {}), {} cores; seconds\n"
          "tabs | Chromium | over     | page load med/max | first chart med/max | refresh med/worst tab | longest gap | chart redraw med/worst | no chart | server cores | browser cores | load avg | reload: load/chart")


def format_row(r: Row) -> str:
    return (f"{r.tabs:>4} | {r.browsers:>8} | {r.over:<8} | {r.load_median:>8.1f}/{r.load_max:<8.1f} | {r.chart_median:>9.1f}/{r.chart_max:<9.1f} | "
            f"{r.refresh_median:>10.2f}/{r.refresh_worst:<10.2f} | {r.longest_gap:>11.1f} | "
            f"{r.chart_refresh_median:>11.2f}/{r.chart_refresh_worst:<10.2f} | {r.missing:>8} | "
            f"{r.server_cores:>12.2f} | {r.browser_cores:>13.2f} | {r.load_average:>8.1f} | "
            f"{r.reload_s:.1f}/{r.reload_chart_s:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", default="1,6,12", help="tab counts, comma-separated (each at most %d)" % MAX_TABS)
    parser.add_argument("--runs", type=int, default=2, help="runs started from the page, training throughout")
    parser.add_argument("--epochs", type=int, default=2000, help="enough that the runs outlast the bench")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of refreshes measured per tab count")
    parser.add_argument("--browsers", default="all",
                        help="how many of each tab count are Chromium tabs: 'all' (default), or a number, the "
                             "rest being WireTabs (bench/wire_tab.py: the server's side of a tab, no drawing)")
    parser.add_argument("--backend", default=None, help="LFM_BACKEND for the server (thread or process)")
    args = parser.parse_args()
    counts = [int(n) for n in args.tabs.split(",")]
    if not all(1 <= n <= MAX_TABS for n in counts) or not 1 <= args.runs <= 8:
        parser.error(f"tabs: 1 to {MAX_TABS} each; runs: 1 to 8")
    if args.browsers != "all" and not (args.browsers.isdigit() and int(args.browsers) <= min(counts)):
        parser.error(f"browsers: 'all' or a whole number up to the smallest tab count ({min(counts)})")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        runs_dir, port = Path(tmp) / "runs", free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "LFM_RUNS_DIR": str(runs_dir), "LFM_ORPHAN_GRACE_S": "600"}
        if args.backend:
            env["LFM_BACKEND"] = args.backend
        log = open(Path(tmp) / "streamlit.log", "w+")
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
             "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        print(f"server pid {server.pid} on {url}", flush=True)
        try:
            wait_for(lambda: server.poll() is not None or healthy(url) is not None, 60, "the server")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                start_runs(browser, url, runs_dir, args.runs, args.epochs)
                print(HEADER.format(args.runs, args.backend or "default", os.cpu_count()), flush=True)
                for tabs in counts:
                    browsers = tabs if args.browsers == "all" else int(args.browsers)
                    for row in measure(browser, url, tabs, browsers, args.window, server.pid):
                        print(format_row(row), flush=True)
                browser.close()
        except Exception:
            log.seek(0)
            print(log.read()[-3000:], file=sys.stderr)
            raise
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
