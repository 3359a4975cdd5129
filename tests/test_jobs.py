"""JobManager: the queue and its cap, controls from other threads, and stopping runs nobody watches."""

import os
import time

import pytest
import torch

from lfm.cli import main
from lfm.config import RunConfig
from lfm.data import DataError
from lfm.lab.jobs import JobManager, threads_per_run
from lfm.store import RunReader
from lfm.store.schema import RunState
from support import wait_for
from tiny import TINY_CONFIG

TINY = TINY_CONFIG
LONG = TINY.with_overrides({"num_epochs": 5000})


def outlast_the_grace_period(manager: JobManager) -> None:
    """Sleep through the grace period and then one look of the orphan watch (it looks once a second).

    A fixed wait on purpose: the tests using it check that nothing happens, and there is no event for
    "the watch looked and let the run be". On a busy machine it can only make them pass without having
    checked, never fail wrongly; test_unwatched_runs_stop_... shows the same watch does stop runs."""
    time.sleep(manager.orphan_grace_s + 1.0)


@pytest.fixture
def manager(tmp_path):
    m = JobManager(tmp_path, max_concurrent=1, orphan_grace_s=0.5)
    m.attach("test-session")
    yield m
    m.close()


def test_cap_queues_the_rest_in_order(manager, tmp_path):
    first, second = manager.submit(LONG, name="first"), manager.submit(TINY, name="second")
    assert first.state == "running" and second.state == "queued" and second.run_id is None
    manager.stop(first)
    assert manager.wait(first, 30) and manager.wait(second, 30)
    assert first.state == "stopped" and second.state == "finished"
    states = {r.name: r.state for r in RunReader(tmp_path).list_runs()}
    assert states == {"first": "stopped", "second": "finished"}


def only_a_record(run_dir) -> bool:
    """True when a run folder holds its settings and status and nothing trained (a cancelled run)."""
    return sorted(p.name for p in run_dir.iterdir()) == ["config.json", "status.json"]


def test_stopping_a_queued_job_never_starts_it_and_records_it_as_cancelled(manager, tmp_path):
    running, queued = manager.submit(LONG), manager.submit(TINY, name="waiting")
    manager.stop(queued)
    assert queued.state == "cancelled" and queued.result.reason == "cancelled by the user before it started"
    manager.stop(running)
    manager.wait(running, 30)
    running.thread.join(30)  # its last act is to start what is queued: nothing, since the queued job was stopped
    assert not running.thread.is_alive() and queued.thread is None  # taken off the queue, not started later
    record = RunReader(tmp_path).summary(queued.run_id)
    assert record.state == RunState.CANCELLED and record.name == "waiting" and record.last_metrics is None
    assert record.status["reason"] == queued.result.reason and record.status["ended"]
    assert RunConfig.from_dict(record.config) == TINY  # its settings, to train it again
    assert only_a_record(record.path)
    assert manager.by_run_id(queued.run_id) is queued  # the page showing the record finds its job


def test_closing_the_manager_saves_what_trains_and_records_what_is_queued(tmp_path, capsys):
    """What stopping the dashboard does (ui/state.py closes its manager at exit)."""
    m = JobManager(tmp_path, max_concurrent=1)
    running = m.submit(LONG, name="training")
    queued = [m.submit(TINY, name=f"queued-{i}", group="sweep-1") for i in range(2)]
    wait_for(lambda: RunReader(tmp_path).summary(running.run_id).last_metrics is not None, 30, "a logged step")
    m.close("because the dashboard shut down")
    assert running.state == "stopped" and (tmp_path / running.run_id / "checkpoint.pt").is_file()
    runs = {r.name: r for r in RunReader(tmp_path).list_runs()}
    assert sorted(runs) == ["queued-0", "queued-1", "training"]
    for job in queued:
        record = runs[job.run.name]
        assert job.state == record.state == RunState.CANCELLED and record.state.has_ended
        assert record.status["reason"] == "cancelled because the dashboard shut down before it started"
        assert record.meta == {"group": "sweep-1"} and only_a_record(record.path)  # still in its sweep
    with pytest.raises(ValueError, match="shutting down"):
        m.submit(TINY)  # a page rerun during the shutdown: refused, never queued for ever
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    listed = {line.split()[2]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert listed == {"training": "stopped", "queued-0": "cancelled", "queued-1": "cancelled"}


def test_unwatched_queued_runs_are_recorded_as_cancelled(manager, tmp_path):
    running, queued = manager.submit(LONG), manager.submit(TINY, name="nobody-watching")
    manager.detach("test-session")  # the last tab closed
    wait_for(lambda: not running.active and not queued.active, 30, "both jobs to end")
    assert running.state == "stopped" and queued.state == "cancelled"
    (record,) = [r for r in RunReader(tmp_path).list_runs() if r.name == "nobody-watching"]
    assert record.state == RunState.CANCELLED and "no browser tab open" in record.status["reason"]
    assert only_a_record(record.path)


def test_a_withdrawn_queued_job_leaves_no_record(manager, tmp_path):
    """A sweep refused halfway takes back what it queued: those runs were never the user's."""
    running, queued = manager.submit(LONG), manager.submit(TINY)
    manager.withdraw(queued)
    assert queued.state == "cancelled" and queued.run_id is None and manager.jobs() == [running]
    manager.withdraw(running)  # a started one is stopped and saved, as by Stop
    manager.wait(running, 30)
    assert running.state == "stopped"
    assert [r.run_id for r in RunReader(tmp_path).list_runs()] == [running.run_id]


def test_a_cancelled_job_is_recorded_even_when_the_runs_folder_is_gone(tmp_path):
    m = JobManager(tmp_path / "runs", max_concurrent=1)
    try:
        running, queued = m.submit(LONG), m.submit(TINY)
        (tmp_path / "runs").rename(tmp_path / "moved")
        (tmp_path / "runs").write_text("a file where the folder was")
        m.stop(queued)  # no folder to write to: the job still ends, saying why, without raising
        if queued.state == "failed":  # the running job saw its folder go and ended first: this one was
            assert "could not create its run folder" in queued.result.reason  # started, and could not be
        else:
            assert queued.state == "cancelled" and "not recorded" in queued.result.reason
        m.stop(running)
        assert m.wait(running, 30) and running.state in ("stopped", "failed")  # it ends too, wherever it got
    finally:
        m.close()


def test_a_queued_job_whose_folder_cannot_be_made_ends_failed_and_a_new_one_is_refused(tmp_path):
    """The runs folder replaced by a file: the queued job fails with the reason when its turn comes (its
    thread neither raises nor leaves it "running"), and a new submit says why it did not start."""
    m = JobManager(tmp_path / "runs", max_concurrent=1)
    try:
        running, queued = m.submit(LONG), m.submit(TINY)
        (tmp_path / "runs").rename(tmp_path / "moved")
        (tmp_path / "runs").write_text("a file where the folder was")
        m.stop(running)  # if it has not ended already, having seen its folder go
        assert m.wait(running, 60) and m.wait(queued, 60)
        assert queued.state == "failed" and "could not create its run folder" in queued.result.reason
        with pytest.raises(ValueError, match="could not create its run folder"):
            m.submit(TINY)
        assert len(m.jobs()) == 2
    finally:
        m.close()


def test_bad_data_is_refused_at_submit(manager, tmp_path):
    bad = TINY.with_overrides({"dataset": "csv", "csv_path": str(tmp_path / "missing.csv")})
    with pytest.raises(DataError):
        manager.submit(bad)
    assert manager.jobs() == []


def test_unwatched_runs_stop_after_the_grace_period_unless_kept_alive(manager):
    orphan, kept = manager.submit(LONG), manager.submit(LONG, keep_alive=True)
    manager.max_concurrent = 2
    manager.detach("test-session")  # the last tab closed
    wait_for(lambda: orphan.state == "stopped", 10, "the unwatched run to stop")
    assert "no browser tab open" in orphan.result.reason
    assert kept.state in ("running", "queued")
    manager.stop(kept)
    manager.wait(kept, 30)


def test_a_reload_within_the_grace_period_keeps_the_run(manager):
    job = manager.submit(LONG)
    manager.detach("test-session")
    manager.attach("reloaded-session")  # a reload: one session closes, another opens
    outlast_the_grace_period(manager)
    assert job.state == "running"
    manager.stop(job)
    manager.wait(job, 30)


@pytest.mark.parametrize("cores", [2, 8, 16])
def test_threads_are_rebalanced_so_runs_do_not_oversubscribe(tmp_path, monkeypatch, cores):
    """Whatever the machine: one core is left to the page, the rest shared by the runs as they start."""
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    m = JobManager(tmp_path, max_concurrent=2)
    try:
        first = m.submit(LONG)
        assert torch.get_num_threads() == cores - 1
        second = m.submit(LONG)
        assert torch.get_num_threads() == max(1, (cores - 1) // 2)
        for job in (first, second):
            m.stop(job)
            m.wait(job, 30)
    finally:
        m.close()
        torch.set_num_threads(1)


def test_the_default_cap_is_one_run_per_core(tmp_path, monkeypatch):
    for cores in (2, 8, 16):
        monkeypatch.setattr(os, "cpu_count", lambda: cores)
        m = JobManager(tmp_path)
        m.close()
        assert m.max_concurrent == cores


@pytest.mark.parametrize("cores, running, threads", [
    (2, 1, 1), (2, 2, 1),                      # never fewer than one thread
    (8, 1, 7), (8, 2, 3), (8, 3, 2), (8, 8, 1),
    (16, 1, 15), (16, 2, 7), (16, 4, 3), (16, 15, 1), (16, 16, 1),
    (None, 1, 1), (1, 1, 1), (4, 0, 3),        # cores unknown; a single core; nothing running yet
])
def test_threads_per_run(cores, running, threads):
    assert threads_per_run(cores, running) == threads


def test_a_manager_that_never_had_a_session_does_not_stop_its_runs(tmp_path):
    m = JobManager(tmp_path, max_concurrent=1, orphan_grace_s=0.2)  # e.g. a script or a benchmark
    try:
        job = m.submit(LONG)
        outlast_the_grace_period(m)
        assert job.state == "running"
        m.stop(job)
        m.wait(job, 30)
    finally:
        m.close()


def test_runs_started_together_get_their_own_seeds_weights(tmp_path):
    """Two runs of the same seed, trained concurrently, end identical (the generator is process-wide)."""
    m = JobManager(tmp_path, max_concurrent=2)
    try:
        cfg = TINY.with_overrides({"num_epochs": 3})
        jobs = [m.submit(cfg), m.submit(cfg.with_overrides({"seed": 1})), m.submit(cfg)]
        for j in jobs:
            m.wait(j, 60)
        losses = [j.result.last_record["val_loss"] for j in jobs]
        assert losses[0] == losses[2] and losses[0] != losses[1]
    finally:
        m.close()
        torch.set_num_threads(1)
