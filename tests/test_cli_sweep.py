"""`python -m lfm sweep`: the grid, the summary, exit statuses, and Ctrl-C stopping every run."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lfm.cli import main
from lfm.cli_sweep import lambda_values
from lfm.lab.sweep import sweep_groups
from lfm.lab.worker import RunOutcome
from lfm.store import RunReader
from lfm.store.files import pid_alive
from support import wait_for
from tiny import TINY_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
TINY_SETS = [x for k, v in TINY_SETTINGS.items() for x in ("--set", f"{k}={v}")]


def test_a_sweep_trains_the_grid_and_prints_mean_and_sd_over_seeds(tmp_path, capsys):
    status = main(["sweep", "--lambdas", "0,0.5", "--seeds", "0,1", "--backend", "thread", "--quiet",
                   "--runs-dir", str(tmp_path), "--name", "grid", *TINY_SETS])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["lambda", "balance", "runs"])
    rows = [line.split() for line in lines[header + 1:header + 3]]
    assert [r[:3] for r in rows] == [["0", "0", "2/2"], ["0.5", "0", "2/2"]]
    assert all("±" in r for r in rows)  # two seeds: a spread
    runs = RunReader(tmp_path).list_runs()
    assert len(runs) == 4 and all(r.name.startswith("grid λ=") for r in runs)
    (group,) = sweep_groups(runs)  # the Sweep and Compare pages list it like a dashboard sweep
    assert group.num_runs == 4


def test_lambdas_take_a_list_or_a_range():
    assert lambda_values("0, 0.1,0.3", log=False, max_n=100) == [0.0, 0.1, 0.3]
    assert lambda_values("-0.5:0.5:5", log=False, max_n=100) == [-0.5, -0.25, 0.0, 0.25, 0.5]
    assert lambda_values("0.01:1:3", log=True, max_n=100) == [0.01, 0.1, 1.0]
    assert len(lambda_values("0:1:100", log=False, max_n=100)) == 100  # past the dashboard's cap of 60


@pytest.mark.parametrize("args, message", [
    (["--lambdas", "abc"], 'lambda_entropy = "abc" is not a number'),
    (["--lambdas", "1:2"], "expected FROM:TO:N"),
    (["--lambdas", "0:1:x"], "N a whole number"),
    (["--lambdas", "0,99"], "lambda_entropy = 99 is out of range"),
    (["--lambdas", "0", "--retry", "-1"], "--retry -1: allowed integers 0 and up"),
    (["--lambdas", "0", "--max-concurrent", "0"], "--max-concurrent 0"),
    (["--lambdas", "0", "--backend", "gpu"], "invalid choice: 'gpu'"),
    (["--lambdas", "0", "--seeds", "1,1"], "more than once"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert main(["sweep", *args, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


def test_a_run_that_fails_makes_the_sweep_exit_1_naming_it(tmp_path, capsys, monkeypatch):
    from lfm.lab import backends

    real = backends.train_one

    def failing_at_half(spec):
        if spec.config["hyperparameters"]["lambda_entropy"] == 0.5:
            return RunOutcome(None, "failed", "could not prepare the run: on purpose", 0, os.getpid(), "here")
        return real(spec)

    monkeypatch.setattr(backends, "train_one", failing_at_half)
    status = main(["sweep", "--lambdas", "0,0.5", "--backend", "thread", "--quiet", "--runs-dir", str(tmp_path),
                   *TINY_SETS])
    captured = capsys.readouterr()
    assert status == 1
    assert "λ=0.5" in captured.err and "on purpose" in captured.err and "λ=0 " not in captured.err
    assert "1 run in the store" in captured.out and "not finished: 1 of 2 runs" in captured.out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_every_run_of_the_sweep_and_leaves_no_worker(tmp_path, signum):
    sets = [x for k, v in {**TINY_SETTINGS, "num_epochs": 10000}.items() for x in ("--set", f"{k}={v}")]
    cli = subprocess.Popen([sys.executable, "-m", "lfm", "sweep", "--lambdas", "0,0.5,1", "--backend", "process",
                            "--max-concurrent", "2", "--runs-dir", str(tmp_path), *sets],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    reader = RunReader(tmp_path)
    try:
        wait_for(lambda: len([r for r in reader.list_runs() if r.last_metrics]) == 2 or cli.poll() is not None,
                 180, "two runs training")
        assert cli.poll() is None, cli.stderr.read()
        cli.send_signal(signum)
        out, err = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, err
    runs = [r for r in reader.list_runs() if r.state != "cancelled"]  # the third: see the test below
    assert len(runs) == 2 and {r.state for r in runs} == {"stopped"}
    assert all((r.path / "checkpoint.pt").is_file() for r in runs)
    assert "cancelled before they started" in out and "λ=1" in out  # the third never started
    assert not any(pid_alive(r.status["pid"]) for r in runs)  # the workers are gone too


def test_runs_a_stopped_sweep_never_started_are_recorded_cancelled_in_its_group(tmp_path, capsys):
    sets = [x for k, v in {**TINY_SETTINGS, "num_epochs": 10000}.items() for x in ("--set", f"{k}={v}")]
    cli = subprocess.Popen([sys.executable, "-m", "lfm", "sweep", "--lambdas", "0,0.5,1", "--backend", "thread",
                            "--max-concurrent", "1", "--quiet", "--runs-dir", str(tmp_path), "--name", "grid",
                            *sets],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    reader = RunReader(tmp_path)
    try:
        wait_for(lambda: any(r.last_metrics for r in reader.list_runs()) or cli.poll() is not None, 60,
                 "the first run training")
        assert cli.poll() is None, cli.stderr.read()
        cli.send_signal(signal.SIGHUP)  # a closed terminal
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, err
    runs = {r.name: r for r in reader.list_runs()}
    assert {name: r.state for name, r in runs.items()} == {
        "grid λ=0 b=0 seed=0": "stopped", "grid λ=0.5 b=0 seed=0": "cancelled", "grid λ=1 b=0 seed=0": "cancelled"}
    cancelled = runs["grid λ=1 b=0 seed=0"]
    assert cancelled.status["reason"] == "the sweep was interrupted before it started"
    assert cancelled.config["hyperparameters"]["lambda_entropy"] == 1.0  # its settings, to train it again
    (group,) = sweep_groups(reader.list_runs())  # the Sweep page shows all three as one sweep
    assert group.num_runs == 3 and f"sweep {group.group}:" in out
    assert "cancelled before they started: grid λ=0.5 b=0 seed=0, grid λ=1 b=0 seed=0" in out

    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    listed = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(state for _, state in listed) == ["cancelled", "cancelled", "stopped"]
    assert {run_id for run_id, _ in listed} == {r.run_id for r in runs.values()}
