"""Shared test set-up: one torch thread per test process, a run store per test, and for the
real-browser tests a dashboard server and a headless Chromium page.

The models under test are tiny; on a 2-core machine a second intra-op thread gains little, and when
another process (a Streamlit server under test, a training thread) also computes, OpenMP's spinning
threads can slow everything down by an order of magnitude.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from browser_support import CHROMIUM, CHROMIUM_ARGS, healthy, require_chromium
from support import stop_process, wait_for

ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A fresh run store for the dashboard under test (the pages read LFM_RUNS_DIR)."""
    monkeypatch.setenv("LFM_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


class Server(NamedTuple):
    url: str
    runs_dir: Path
    proc: subprocess.Popen
    log: Path  # the server's stdout and stderr


@pytest.fixture
def dashboard(dashboard_server):
    """(base URL, runs folder) of a fresh dashboard process."""
    yield dashboard_server.url, dashboard_server.runs_dir


@pytest.fixture
def dashboard_server(tmp_path):
    """A fresh dashboard process (Server); its output is shown if it fails to start."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    runs_dir = tmp_path / "runs"
    log = open(tmp_path / "streamlit.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "LFM_RUNS_DIR": str(runs_dir), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: proc.poll() is not None or healthy(url), 60, "the streamlit server", every=0.3)
            assert proc.poll() is None, "streamlit exited"
        except AssertionError as exc:
            log.seek(0)
            pytest.fail(f"{exc}:\n{log.read()}")
        yield Server(url, runs_dir, proc, tmp_path / "streamlit.log")
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def browser_page():
    """A 1500 x 2400 page of headless Chromium (Debian's: test.sh installs it); skips where it is missing,
    except under CI (see browser_support.require_chromium)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1500, "height": 2400})
        finally:
            browser.close()
