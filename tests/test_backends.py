"""Backends: runs on threads, on worker processes and on Ray, steered and recorded through the store.

The process and Ray tests start real worker processes (each imports torch once), so they train tiny
runs; the fault tests pause a run through its control file before killing its worker, so the kill
always lands mid-run.
"""

import os
import signal
import threading

import pytest

from lfm.config import RunConfig
from lfm.lab.backends import ProcessBackend, ThreadBackend, available_backends, make_backend
from lfm.lab.sweep import SweepSpec, plan_sweep
from lfm.lab.sweep_runner import run_sweep, summary_table
from lfm.store import RunReader
from lfm.store.control import send_command
from support import wait_for
from tiny import TINY_SETTINGS

TINY = RunConfig().with_overrides({**TINY_SETTINGS, "log_every": 2})


def sweep_of(lambdas, epochs=1, seeds=None):
    base = TINY.with_overrides({"num_epochs": epochs})
    return plan_sweep(base, SweepSpec(tuple(lambdas), None, seeds), "sweep-test")


def test_every_backend_is_offered_and_a_bad_name_is_refused():
    assert available_backends() == ["thread", "process", "ray"]  # ray: a dev requirement
    with pytest.raises(ValueError, match="backend = 'gpu' is not available: allowed thread, process, ray"):
        make_backend("gpu")


def test_the_thread_backend_runs_a_sweep_into_the_store(tmp_path):
    report = run_sweep(sweep_of([0.0, 0.5]), ThreadBackend(2), tmp_path, "sweep-test")
    assert [t.outcome.status for t in report.tasks] == ["finished", "finished"]
    reader = RunReader(tmp_path)
    runs = reader.list_runs()
    assert {r.meta["group"] for r in runs} == {"sweep-test"} and len(runs) == 2
    assert {r.meta["backend"] for r in runs} == {"thread"}
    table = summary_table(reader, report.run_ids)
    assert list(table["lambda_entropy"]) == [0.0, 0.5] and list(table["finished"]) == [1, 1]


def test_the_process_backend_trains_runs_at_once_in_other_processes(tmp_path):
    backend = ProcessBackend(2)
    report = run_sweep(sweep_of([0.0, 0.5], epochs=20), backend, tmp_path, "sweep-test")
    outcomes = [t.outcome for t in report.tasks]
    assert [o.status for o in outcomes] == ["finished", "finished"]
    assert len({o.pid for o in outcomes}) == 2 and os.getpid() not in {o.pid for o in outcomes}
    reader = RunReader(tmp_path)
    spans = [(reader.status(r)["started"], reader.status(r)["ended"]) for r in report.run_ids]
    (start_a, end_a), (start_b, end_b) = spans
    assert start_a <= end_b and start_b <= end_a  # their training overlapped in time
    assert not backend._pool._pool or all(not p.is_alive() for p in backend._pool._pool)  # closed: no orphans


def kill_first_run_mid_training(runs_dir, done: threading.Event) -> str:
    """Pause the first run of the sweep through its control file, then SIGKILL its worker."""
    reader = RunReader(runs_dir)
    run = wait_for(lambda: next((r for r in reader.list_runs() if r.last_metrics), None), 120, "a run's first log")
    send_command(runs_dir, run.run_id, "pause")
    wait_for(lambda: reader.status(run.run_id).get("paused"), 60, "the run to pause")
    os.kill(reader.status(run.run_id)["pid"], signal.SIGKILL)
    return run.run_id


@pytest.mark.parametrize("retry", [0, 1])
def test_a_killed_worker_leaves_its_run_interrupted_and_the_sweep_goes_on(tmp_path, retry):
    planned = sweep_of([0.0, 0.5, 1.0], epochs=15)
    result = {}
    sweep = threading.Thread(target=lambda: result.update(
        report=run_sweep(planned, ProcessBackend(2), tmp_path, "sweep-test", retry=retry)))
    sweep.start()
    killed = kill_first_run_mid_training(tmp_path, threading.Event())
    sweep.join(300)
    report = result["report"]
    reader = RunReader(tmp_path)
    assert reader.status(killed)["state"] == "interrupted"
    victim = next(t for t in report.tasks if killed in t.run_ids)
    others = [t for t in report.tasks if t is not victim]
    assert [t.outcome.status for t in others] == ["finished", "finished"]
    if retry:
        assert victim.outcome.status == "finished" and report.retried == 1
        assert len(victim.run_ids) == 2 and reader.status(victim.run_ids[-1])["state"] == "finished"
        assert reader.config(victim.run_ids[-1]) == reader.config(killed)  # same settings, same seed
    else:
        assert victim.outcome.status == "interrupted" and "worker process" in victim.outcome.reason
        assert victim in report.failed


def test_workers_end_when_the_process_that_started_them_dies(tmp_path):
    """A sweep killed hard (kill -9, a crash) leaves no worker training for nobody."""
    import subprocess
    import sys

    from lfm.store.files import pid_alive

    script = f"""
import os, time
from lfm.config import RunConfig
from lfm.lab.backends import ProcessBackend
from lfm.lab.worker import RunSpec
from lfm.store import RunReader
cfg = RunConfig().with_overrides({{**{TINY_SETTINGS!r}, "num_epochs": 10000}})
backend = ProcessBackend(1)
backend.submit(RunSpec(cfg.to_dict(), {str(tmp_path)!r}, "orphan", {{}}))
reader = RunReader({str(tmp_path)!r})
while not [r for r in reader.list_runs() if r.last_metrics]:
    time.sleep(0.1)
os._exit(0)  # gone without closing the pool
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=180,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    reader = RunReader(tmp_path)
    (run,) = reader.list_runs()
    wait_for(lambda: not pid_alive(run.status["pid"]), 30, "the orphaned worker to exit")
    assert reader.status(run.run_id)["state"] == "interrupted"
