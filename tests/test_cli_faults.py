"""The CLI under faults: stop signals, a reader that leaves the pipe, a run folder deleted mid-run, and
terminal control codes in what a run folder holds. Each ends with a clear outcome, never a traceback."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lfm.cli import ProgressBar, main, printable
from lfm.store import RunWriter
from support import wait_for

REPO = Path(__file__).resolve().parents[1]
TINY = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_samples": 64,
        "batch_size": 16, "log_every": 1}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def cli(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lfm", *args], env=ENV, text=True, **popen)


def the_run(runs_dir: Path) -> Path:
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run


def wait_for_a_logged_step(runs_dir: Path, timeout_s: float = 60) -> Path:
    def logged():
        runs = [p for p in runs_dir.iterdir() if p.is_dir()] if runs_dir.is_dir() else []
        metrics = runs[0] / "metrics.csv" if runs else None
        return runs[0] if metrics is not None and metrics.is_file() and metrics.read_text().count("\n") >= 2 else None

    return wait_for(logged, timeout_s, "the run's first logged step", every=0.1)


def long_run(runs_dir: Path) -> subprocess.Popen:
    sets = [x for k, v in {**TINY, "num_epochs": 10_000}.items() for x in ("--set", f"{k}={v}")]
    return cli("train", "--quiet", "--runs-dir", str(runs_dir), *sets,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_and_save_the_run_like_ctrl_c(tmp_path, signum):
    runs_dir = tmp_path / "runs"
    proc = long_run(runs_dir)
    try:
        run = wait_for_a_logged_step(runs_dir)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped"
    assert status["reason"].startswith(f"stopped by {signal.Signals(signum).name} at step ")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == status["step"]
    assert f"lfm: {signal.Signals(signum).name}: stopping after the current step and saving the run" in err
    assert "Traceback" not in err


def test_a_second_signal_aborts(tmp_path):
    runs_dir = tmp_path / "runs"
    proc = long_run(runs_dir)
    try:
        run = wait_for_a_logged_step(runs_dir)
        # Both signals must arrive while the run is still stopping, and a tiny run stops within
        # milliseconds: so hold the process (SIGSTOP), let two different signals wait (two of the same
        # kind would merge into one), and release it. Python runs the handlers one after the other.
        proc.send_signal(signal.SIGSTOP)
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].startswith("lfm: error: aborted by a second SIGTERM")
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"


@pytest.mark.parametrize("with_a_run", [False, True])
def test_a_closed_pipe_ends_quietly(tmp_path, with_a_run):
    """`python -m lfm runs | head -1`: the reader leaves before the table is written."""
    runs_dir = tmp_path / "runs"
    if with_a_run:
        with RunWriter(runs_dir, {}, name="listed") as writer:
            writer.fail("for the listing")
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: the first write gets EPIPE
    proc = cli("runs", "--runs-dir", str(runs_dir), stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert err == ""
    assert proc.returncode == 0


def test_a_run_folder_removed_mid_run_ends_the_run_as_failed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    original = ProgressBar.on_step_end

    def on_step_end(self, rec):  # the writer has recorded step 3; now someone deletes the folder
        if rec["step"] == 3:
            shutil.rmtree(the_run(tmp_path / "runs"))
        original(self, rec)

    monkeypatch.setattr(ProgressBar, "on_step_end", on_step_end)
    sets = [x for k, v in {**TINY, "num_epochs": 50}.items() for x in ("--set", f"{k}={v}")]
    assert main(["train", *sets]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[-1].startswith("lfm: error: run ") and ": its folder was removed (" in lines[-1]
    assert "Traceback" not in err and "FileNotFoundError" not in err
    assert not list((tmp_path / "runs").iterdir())  # nothing was written back after the removal


def test_lfm_runs_escapes_terminal_control_codes(tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    with RunWriter(runs_dir, {}, name="evil\x1b]0;pwned\x07\x1b[31mred\u202eeman") as writer:
        writer.fail("for the listing")
    status = writer.path / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "state": "failed\x1b[2J"}))
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "evil\\x1b]0;pwned\\x07" in out
    assert "unknown" in out  # a state no run can be in reads as unknown (RunState.parse)


@pytest.mark.parametrize("text, shown", [("plain λ name", "plain λ name"), ("a\x1bb", "a\\x1bb"),
                                         ("bell\x07", "bell\\x07"), ("rtl\u202e", "rtl\\u202e"),
                                         ("tab\there", "tab\\there")])
def test_printable_escapes_control_and_format_characters(text, shown):
    assert printable(text) == shown
