"""Training yields the CPU to the pages: lfm.lab.priority, and the dashboard's runs at nice 10."""

import os
import sys
import threading

import pytest

from lfm.lab import priority
from lfm.lab.jobs import JobManager
from lfm.lab.priority import lower_this_thread, train_nice_from_env
from lfm.store.schema import RunState
from support import set_env, wait_for
from tiny import TINY_CONFIG

LONG = TINY_CONFIG.with_overrides({"num_epochs": 5000})

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.parametrize("text, nice", [(None, priority.DEFAULT_NICE), ("", priority.DEFAULT_NICE),
                                        ("0", 0), (" 7 ", 7), ("19", 19)])
def test_train_nice_from_env(monkeypatch, text, nice):
    set_env(monkeypatch, "LFM_TRAIN_NICE", text)
    assert train_nice_from_env() == nice


@pytest.mark.parametrize("text", ["20", "-1", "1.5", "ten", "１０", "1_0", "99999999999999999999"])
def test_train_nice_refuses_anything_else(monkeypatch, text):
    monkeypatch.setenv("LFM_TRAIN_NICE", text)
    with pytest.raises(ValueError, match=r"LFM_TRAIN_NICE = .*allowed a whole number from 0 .* to 19"):
        train_nice_from_env()


@linux
def test_lower_this_thread_leaves_the_rest_of_the_process_alone():
    before = thread_nice()
    seen = {}

    def train():
        seen["lowered"] = lower_this_thread(before + 5)
        seen["nice"] = thread_nice()
        seen["again"] = lower_this_thread(before + 2)  # never raised back
        seen["after"] = thread_nice()

    worker = threading.Thread(target=train)
    worker.start()
    worker.join()
    assert seen == {"lowered": True, "nice": before + 5, "again": False, "after": before + 5}
    assert thread_nice() == before  # the caller (the server's own threads) keeps its priority
    assert lower_this_thread(0) is False


def test_lower_this_process_in_a_child():
    """Run in a child interpreter: a process cannot raise its priority back."""
    import subprocess

    code = ("import os; from lfm.lab.priority import lower_this_process as f; "
            "before = os.getpriority(os.PRIO_PROCESS, 0); print(f(before + 3), os.getpriority(os.PRIO_PROCESS, 0) - before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "3"]


@linux
def test_dashboard_runs_train_in_a_lowered_thread(tmp_path):
    """A thread-backend job of a JobManager with train_nice trains at that nice value, read from the OS
    while it trains; the manager's caller keeps its own."""
    before = thread_nice()
    manager = JobManager(tmp_path, max_concurrent=1, train_nice=before + 4)
    try:
        job = manager.submit(LONG)
        wait_for(lambda: job.thread is not None and job.thread.native_id is not None and job.run_id, 30,
                 "the run to start")
        wait_for(lambda: os.getpriority(os.PRIO_PROCESS, job.thread.native_id) == before + 4, 30,
                 "its thread at nice before + 4")
        manager.stop(job)
        assert manager.wait(job, 30) and job.state == RunState.STOPPED
    finally:
        manager.close()
    assert thread_nice() == before


def test_the_process_backend_lowers_its_workers(tmp_path):
    """ProcessBackend(nice=n): its worker processes run at nice n (read from the OS)."""
    from lfm.lab.backends import ProcessBackend

    backend = ProcessBackend(1, nice=os.getpriority(os.PRIO_PROCESS, 0) + 3)
    try:
        pids = backend._pool._pool  # the pool's worker processes
        wait_for(lambda: all(p.pid for p in pids), 30, "the workers to start")
        wait_for(lambda: all(os.getpriority(os.PRIO_PROCESS, p.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 3
                             for p in pids), 60, "the workers at nice + 3")
    finally:
        backend.close()


def test_a_bad_lfm_train_nice_is_said_on_the_page(runs_dir, monkeypatch):
    """The dashboard names the variable and its range, trains at the default, and the page still works."""
    from support import open_app

    monkeypatch.setenv("LFM_TRAIN_NICE", "-5")
    at = open_app()
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "LFM_TRAIN_NICE" in w.value]
    assert "'-5'" in warning and "from 0" in warning and "to 19" in warning and "nice 10, the default" in warning
    monkeypatch.setenv("LFM_TRAIN_NICE", "3")
    at.run()
    assert not [w for w in at.warning if "LFM_TRAIN_NICE" in w.value]
