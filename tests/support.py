"""What many test files share: waiting for a condition, waiting on the run store, and opening the dashboard
under Streamlit's AppTest.

Tests wait for what they need to see (a run's state, a file event, a heartbeat), never for a fixed time:
on a machine shared with other work a fixed sleep is either too short (a flaky test) or too long (a slow one).
"""

import json
import subprocess
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lfm.store import RunReader

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
APP_TIMEOUT_S = 60  # per script run: a page's first run imports torch and loads data, on a busy machine


def set_env(monkeypatch, name: str, text: str | None) -> None:
    """Environment variable `name` set to `text` for one test, or unset when text is None."""
    if text is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, text)


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    """predicate()'s first truthy value within timeout seconds, else an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(every)


def wait_for_runs(runs_dir: Path, states: tuple[str, ...], count: int = 1, timeout: float = 60.0) -> list:
    """The run store's runs once there are exactly `count` and every one is in one of `states`."""
    reader = RunReader(runs_dir)

    def settled():
        runs = reader.list_runs()
        return runs if len(runs) == count and all(r.state in states for r in runs) else None

    try:
        return wait_for(settled, timeout, f"{count} run(s) in {states}", every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the store holds {[(r.run_id, r.state) for r in reader.list_runs()]}") from None


def wait_for_status_writes(run_dir: Path, after: float, count: int, timeout: float = 30.0) -> dict:
    """status.json once it has been rewritten `count` times since `after` (a time.time() value).

    A paused run rewrites it about once a second (its heartbeat), so this waits on the run's own clock."""
    seen: set[float] = set()

    def rewritten():
        status = json.loads((run_dir / "status.json").read_text())  # replaced atomically: never half a file
        if status["updated"] > after:
            seen.add(status["updated"])
        return status if len(seen) >= count else None

    return wait_for(rewritten, timeout, f"{count} rewrite(s) of {run_dir.name}/status.json", every=0.1)


def wait_for_paused(run_dir: Path, after: float, timeout: float = 30.0) -> dict:
    """status.json once a write after `after` says "paused": the training loop writes that only from
    inside its pause, so from then on the run takes no step until it is resumed."""

    def paused():
        status = json.loads((run_dir / "status.json").read_text())
        return status if status.get("paused") and status["updated"] > after else None

    return wait_for(paused, timeout, f"{run_dir.name}/status.json to say paused", every=0.1)


def new_app() -> AppTest:
    """The whole dashboard (streamlit_app.py and its navigation) as a new browser session, not yet run."""
    return AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)


def open_app(page: str | None = None) -> AppTest:
    """A new session that has opened the dashboard (the Train & watch page) and then, if given, `page`
    (e.g. "pages/runs.py") through the navigation, as a user clicking in the sidebar would."""
    at = new_app()
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def stop_process(proc, timeout: float = 10) -> None:
    """Terminate a process the tests started (a dashboard server), killing it if it will not stop."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- bad input ---------------------------------------------------------------------------------------

BAD_INPUT_S = 10.0  # issue 9: every bad input is refused within 10 s, with exit 2 and one line naming it

# On a test of a bad input: fails it once its body has run BAD_INPUT_S, so a hang fails there and then
# (pytest-timeout; the suite's own limit is 300 s). Fixtures' setup is not counted.
bounded = pytest.mark.timeout(BAD_INPUT_S, func_only=True)


def refuses(args: list[str], capsys, *named: str) -> str:
    """Run `python -m lfm ARGS` in this process and check how it refuses a bad input: exit status 2 in
    under BAD_INPUT_S, nothing on stdout, and one line "lfm: error: ..." on stderr that holds each of
    `named` (the file or the setting at fault). Returns the line.

    In this process, so the time measured is lfm's own work: a fresh `python -m lfm` on a busy 2-core
    machine spends longer than that starting Python."""
    from lfm.cli import main

    start = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code == 2, err[:500]
    assert out == "" and err.endswith("\n") and err.count("\n") == 1 and err.startswith("lfm: error: "), err[:500]
    for word in named:
        assert word in err, err[:500]
    assert seconds < BAD_INPUT_S, f"refused after {seconds:.1f} s: {err[:200]}"
    return err


def live_grid(at: AppTest) -> list[dict]:
    """The charts of the live view's grid (ui.live_charts) the page shows: one dict per chart, with its
    slot, title, caption, spec and datasets (by columns); [] when the page draws none."""
    charts = []
    for element in at.get("bidi_component"):
        if element.proto.component_name == "lfm_live_charts":
            grid = json.loads(element.proto.bytes)
            charts += [{**cell, **cell["chart"]} for row in grid["rows"] for cell in row["cells"] if "chart" in cell]
    return charts
