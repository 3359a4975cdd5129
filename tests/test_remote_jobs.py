"""Dashboard jobs on a worker process: steered through the run folder; a dead worker ends only its run."""

import os
import signal

import pytest

from lfm.lab.jobs import JobManager
from lfm.lab.remote import FolderControl, supervise
from lfm.lab.worker import RunSpec
from lfm.store import RunReader
from lfm.store.schema import RunState
from support import wait_for
from tiny import TINY_CONFIG

LONG = TINY_CONFIG.with_overrides({"num_epochs": 10000})


@pytest.fixture
def manager(tmp_path):
    m = JobManager(tmp_path, max_concurrent=2)
    yield m
    m.close()


def test_a_process_job_is_paused_stepped_reweighted_and_stopped(manager, tmp_path):
    job = manager.submit(LONG, name="on a worker", backend="process")
    reader = RunReader(tmp_path)
    wait_for(lambda: job.run_id and reader.last_metrics(job.run_id), 120, "the worker's first log step")
    assert reader.status(job.run_id)["pid"] != os.getpid()  # trained in another process
    assert reader.summary(job.run_id).meta["backend"] == "process"

    job.control.pause()
    wait_for(lambda: job.state == "paused", 30, "the job to read paused")
    held = reader.last_metrics(job.run_id)["step"]
    job.control.set_lambda(0.7)
    job.control.step()
    wait_for(lambda: reader.last_metrics(job.run_id)["step"] == held + 1, 30, "one log interval")
    assert reader.last_metrics(job.run_id)["lambda_entropy"] == 0.7

    manager.stop(job)
    assert manager.wait(job, 60)
    assert job.state == "stopped" and reader.status(job.run_id)["state"] == "stopped"
    assert (reader.path(job.run_id) / "checkpoint.pt").is_file()


def test_the_manager_survives_a_workers_death(manager, tmp_path):
    victim = manager.submit(LONG, name="victim", backend="process")
    reader = RunReader(tmp_path)
    wait_for(lambda: victim.run_id and reader.last_metrics(victim.run_id), 120, "the victim's first log step")
    os.kill(reader.status(victim.run_id)["pid"], signal.SIGKILL)
    assert manager.wait(victim, 60)
    assert victim.state == "interrupted" and "died" in victim.result.reason
    assert reader.status(victim.run_id)["state"] == "interrupted"

    after = manager.submit(TINY_CONFIG, name="after", backend="process")  # the pool replaced the worker
    assert manager.wait(after, 120) and after.state == "finished"


def test_an_unknown_backend_is_refused_at_submit(manager):
    with pytest.raises(ValueError, match="backend = 'gpu' is not available here: allowed thread, process, ray"):
        manager.submit(TINY_CONFIG, backend="gpu")
    assert manager.jobs() == []


def test_a_job_stopped_before_its_worker_took_it_never_reaches_the_worker(tmp_path):
    """Stop landing between the queue handing the job its thread and the worker taking it: the outcome
    says cancelled (the manager then records it as a queued job's Stop would), and nothing is sent."""
    class NoWorker:
        def submit(self, spec):
            raise AssertionError("a stopped job was handed to a worker")

    control = FolderControl(tmp_path)
    control.stop("by the user")
    spec = RunSpec(TINY_CONFIG.to_dict(), str(tmp_path), "late", {"task": "t1"})
    outcome = supervise(NoWorker(), spec, control, "t1")
    assert outcome.status == RunState.CANCELLED and outcome.run_id is None
    assert outcome.reason == "cancelled by the user before it started"
