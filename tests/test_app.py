"""AppTest of every dashboard page: renders, refuses bad settings, starts, shows and stops runs."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lfm.store import RunReader
from support import open_app as app
from support import live_grid, wait_for, wait_for_paused, wait_for_runs, wait_for_status_writes
from tiny import TINY_SETTINGS
from ui.text import shown

TINY = TINY_SETTINGS


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def set_settings(at: AppTest, values: dict) -> None:
    for key, value in values.items():
        at.number_input(key=key).set_value(value)
    at.run()


def start_long_run(runs_dir: Path) -> AppTest:
    """The Train page after pressing Start on a tiny run long enough to still be training when steered."""
    at = app()
    set_settings(at, {**TINY, "num_epochs": 2000})
    button(at, "Start").click().run()
    wait_for_runs(runs_dir, ("running",))
    return at


@pytest.mark.parametrize("page", [None, "pages/runs.py"])
def test_pages_render_with_no_runs(runs_dir, page):
    at = app(page)
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_bad_settings_are_refused_and_nothing_starts(runs_dir):
    at = app()
    set_settings(at, {"batch_size": 0})
    assert any("batch_size" in shown(e.value) and "1 to 4096" in e.value for e in at.sidebar.error)
    assert button(at, "Start").disabled  # AppTest, like a browser, cannot click a disabled button
    assert not at.exception
    assert not runs_dir.exists() or not RunReader(runs_dir).list_runs()


def test_start_creates_a_run_whose_charts_appear(runs_dir):
    at = app()
    set_settings(at, TINY)
    button(at, "Start").click().run()
    assert not at.exception
    (run,) = wait_for_runs(runs_dir, ("finished",))
    assert run.config["hyperparameters"]["token_dim"] == 8
    at.run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) >= 6  # loss, entropies, load heatmap, probe, matrix, utilisation, quadrant
    assert any("finished" in m.value for m in at.markdown)
    # the Runs page lists it and draws it too
    at.switch_page("pages/runs.py").run()
    assert not at.exception and len(at.get("vega_lite_chart")) >= 6


def test_stop_ends_a_running_run(runs_dir):
    at = start_long_run(runs_dir)
    at.run()
    button(at, "Stop").click().run()
    assert not at.exception
    (run,) = wait_for_runs(runs_dir, ("stopped",))
    assert "stopped by the user" in run.status["reason"]


def test_pause_and_resume(runs_dir):
    at = start_long_run(runs_dir)
    at.run()
    button(at, "Pause").click().run()
    paused_at = time.time()
    assert any(b.label == "Resume" for b in at.button)
    reader = RunReader(runs_dir)
    (run,) = reader.list_runs()
    logged_step = lambda: (reader.last_metrics(run.run_id) or {}).get("step", 0)  # noqa: E731
    parked = wait_for_paused(run.path, paused_at)  # written by the loop once it is parked
    assert parked["step"] == logged_step()
    later = wait_for_status_writes(run.path, parked["updated"], count=1)  # the next heartbeat
    assert later["paused"] and later["step"] == logged_step() == parked["step"]  # no progress while paused
    button(at, "Resume").click().run()
    button(at, "Stop").click().run()
    wait_for_runs(runs_dir, ("stopped",))


def test_a_run_started_from_the_cli_is_steered_from_the_dashboard(runs_dir):
    """Pause, step, set lambda and stop a CLI run from the Train page: through its control.jsonl."""
    import signal
    import subprocess
    import sys

    args = [f"{k}={v}" for k, v in {**TINY, "num_epochs": 5000}.items()]
    cli = subprocess.Popen([sys.executable, "-m", "lfm", "train", "--quiet", "--runs-dir", str(runs_dir),
                            *[x for a in args for x in ("--set", a)]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    reader = RunReader(runs_dir)
    try:
        (run,) = wait_for_runs(runs_dir, ("running",))
        wait_for(lambda: reader.last_metrics(run.run_id), 60, "the CLI run's first log step")
        at = app()
        assert not at.exception
        assert any("running" in m.value for m in at.markdown)
        assert any("through its run folder" in c.value for c in at.caption)
        assert len(live_grid(at)) >= 6 and not at.get("vega_lite_chart")  # it trains: the live grid draws

        button(at, "Pause").click().run()
        wait_for(lambda: reader.status(run.run_id).get("paused"), 60, "the CLI run to pause")
        at.run()
        assert [b for b in at.button if b.label == "Resume"]  # the page reads the pause from status.json
        held = reader.last_metrics(run.run_id)["step"]
        at.number_input(key=f"live_lambda_{run.run_id}").set_value(0.25)
        button(at, "Apply λ").click().run()
        button(at, "Step").click().run()
        wait_for(lambda: reader.last_metrics(run.run_id)["step"] > held, 60, "the step to run")
        assert reader.last_metrics(run.run_id)["lambda_entropy"] == 0.25
        button(at, "Stop").click().run()
        assert cli.wait(60) == 0
    finally:
        if cli.poll() is None:
            cli.send_signal(signal.SIGINT)
            cli.wait(30)
    (run,) = wait_for_runs(runs_dir, ("stopped",))
    assert "from a dashboard" in reader.status(run.run_id)["reason"]
    assert [c["command"] for c in map(__import__("json").loads,
                                      (run.path / "control.jsonl").read_text().splitlines())] == \
        ["pause", "set_lambda", "step", "stop"]


def test_a_second_tab_sees_the_same_run_which_the_first_tab_steers(runs_dir):
    first = start_long_run(runs_dir)
    second = app()  # another browser tab: a new session of the same server process
    assert any("running" in m.value for m in second.markdown)
    assert button(second, "Stop").disabled  # it watches; the tab that started the run steers it (test_ownership.py)
    first.run()
    button(first, "Stop").click().run()
    wait_for_runs(runs_dir, ("stopped",))
    second.run()
    assert any("stopped" in m.value for m in second.markdown)


def test_lambda_while_training_is_checked_by_the_settings_own_rule(runs_dir):
    at = start_long_run(runs_dir)
    at.run()
    box = next(n for n in at.number_input if n.label == "λ while training")
    box.set_value(11.0)
    button(at, "Apply λ").click().run()
    assert any(e.value == "lambda_entropy = 11 is out of range: allowed numbers -10 to 10" for e in at.error)
    box = next(n for n in at.number_input if n.label == "λ while training")
    box.set_value(0.5)
    button(at, "Apply λ").click().run()
    assert not at.exception and not at.error
    reader = RunReader(runs_dir)
    (run,) = reader.list_runs()
    wait_for(lambda: reader.read_events(run.run_id), 30, "the lambda change in events.jsonl")
    assert [e["value"] for e in reader.read_events(run.run_id)] == [0.5]  # the refused 11 never reached it
    button(at, "Stop").click().run()
    wait_for_runs(runs_dir, ("stopped",))


def test_lambda_while_training_offers_the_base_lambda_under_a_schedule(runs_dir):
    """A warm-up's rows record λ x its factor (below the setting until the ramp ends); the box sets the
    base the schedule scales, so it offers the setting, not the last row's value."""
    from lfm.training.experiment import execute, prepare_run
    from tiny import TINY_CONFIG

    cfg = TINY_CONFIG.with_overrides({"lambda_entropy": 0.4, "lambda_schedule": "warmup", "lambda_warmup": 1.0})
    run = prepare_run(cfg, runs_dir)
    execute(run)
    assert RunReader(runs_dir).last_metrics(run.run_id)["lambda_entropy"] < 0.4
    at = app()
    assert not at.exception
    assert next(n for n in at.number_input if n.label == "λ while training").value == 0.4


def test_a_run_on_a_worker_process_dies_and_the_dashboard_keeps_serving(runs_dir, monkeypatch):
    import os
    import signal

    from ui import state

    monkeypatch.setenv("LFM_MAX_CONCURRENT", "1")  # one warm worker is enough here
    at = app()
    set_settings(at, {**TINY, "num_epochs": 5000})
    at.selectbox(key="backend").set_value("process").run()
    button(at, "Start").click().run()
    reader = RunReader(runs_dir)
    try:
        (run,) = wait_for_runs(runs_dir, ("running",), timeout=120)
        wait_for(lambda: reader.last_metrics(run.run_id) is not None, 120, "the worker's first log step")
        pid = reader.status(run.run_id)["pid"]
        assert pid != os.getpid()  # trained outside the dashboard's process
        os.kill(pid, signal.SIGKILL)
        wait_for_runs(runs_dir, ("interrupted",))
        # the job's supervisor notices the dead worker at its next poll: the page says so from then on
        wait_for(lambda: any("interrupted" in m.value for m in at.run().markdown), 60, "the page to say interrupted")
        assert not at.exception

        set_settings(at, {**TINY, "num_epochs": 1})
        button(at, "Start").click().run()  # the pool replaced its worker: the next run trains
        wait_for_runs(runs_dir, ("interrupted", "finished"), count=2, timeout=120)
        assert {r.state for r in reader.list_runs()} == {"interrupted", "finished"}
    finally:
        state.job_manager(str(runs_dir)).close()  # ends the worker pool: no process left behind
