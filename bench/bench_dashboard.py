"""What watching costs: training throughput with the dashboard open and refreshing vs the CLI, one run each.

1. CLI: `python -m lfm train` on the default config (more epochs, so the timing window is steady state).
2. Dashboard: `streamlit run streamlit_app.py`, the page opened in headless Chromium, the same settings
   set through the URL, Start pressed, the page left open and refreshing (1 s by default) while it trains.
Both read samples/s from the run's own metrics (records after the first WARMUP_S seconds, up to the
window's end), so they measure the same thing.

Usage: .venv/bin/python bench/bench_dashboard.py [--epochs 30] [--window 30]
Needs Debian's chromium (./test.sh installs it) and the playwright package (requirements-dev.txt).
"""

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARMUP_S = 4.0  # the first seconds include torch's lazy imports and first-call overheads


def median_samples_per_s(runs_dir: Path, until_s: float) -> tuple[float, int]:
    (run,) = [p for p in runs_dir.iterdir() if (p / "metrics.csv").exists()]
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    window = [float(r["samples_per_s"]) for r in rows if WARMUP_S < float(r["time_s"]) < until_s]
    return statistics.median(window), len(window)


def cli(epochs: int, window: float) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lfm", "train", "--quiet", "--runs-dir", tmp, "--set",
                        f"num_epochs={epochs}"], check=True, cwd=tmp, stdout=subprocess.DEVNULL)  # fmt: skip
        return median_samples_per_s(Path(tmp), window)


def dashboard(epochs: int, window: float) -> tuple[float, int]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
             "--server.headless", "true"],
            cwd=ROOT, env={**os.environ, "LFM_RUNS_DIR": tmp}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=["--headless", "--no-sandbox", "--disable-gpu",
                                                  "--disable-background-networking"])  # fmt: skip
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                for _ in range(100):
                    try:
                        page.goto(f"http://127.0.0.1:{port}/?num_epochs={epochs}")
                        break
                    except Exception:
                        time.sleep(0.3)
                main = page.get_by_test_id("stMainBlockContainer")
                main.get_by_role("button", name="Start").click()
                time.sleep(window + 2)  # the page stays open, refreshing, the whole window
                browser.close()
            return median_samples_per_s(Path(tmp), window)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    c, nc = cli(args.epochs, args.window)
    d, nd = dashboard(args.epochs, args.window)
    print(f"default config, {args.epochs} epochs; median samples/s over records {WARMUP_S:g}-{args.window:g} s")
    print(f"{'CLI (python -m lfm train)':<40} {c:>9.0f}  ({nc} records)")
    print(f"{'dashboard, page open, 1 s refresh':<40} {d:>9.0f}  ({nd} records)")
    print(f"ratio dashboard / CLI: {d / c:.2f}")
