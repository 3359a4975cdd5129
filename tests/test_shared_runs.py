"""ui/shared_runs.py: every tab draws from one parsed copy of each run, read once per change.

Two "sessions" here are two callers of one RunCache, as two browser tabs are two script threads calling
the dashboard's one RunCache. The run is written by a RunWriter. Most tests tell the cache about a change
through a stand-in watcher (`Changes`), so they do not wait on the OS's file events; one test uses a real
RunWatcher end to end.
"""

import shutil
import threading
import time

import pytest

import ui.shared_runs as shared_runs
from lfm.store import RunReader, RunWriter
from lfm.store.watch import RunWatcher
from ui.shared_runs import RunCache

CONFIG = {"hyperparameters": {"num_experts": 2, "lambda_entropy": 0.01}, "training": {"log_every": 1}}
INFO = {"total_steps": 10, "num_experts": 2, "regime_names": ["a", "b"], "probe_labels": [0, 1]}


class Changes:
    """What RunCache asks a RunWatcher (a version per run, one for the folder), bumped by the test."""

    def __init__(self):
        self.versions: dict[str, int] = {}
        self.folder_version = 0

    def version(self, run_id: str) -> int:
        return self.versions.get(run_id, 0)

    def bump(self, run_id: str) -> None:
        self.versions[run_id] = self.version(run_id) + 1
        self.folder_version += 1


def record(step: int) -> dict:
    return {"step": step, "epoch": 0, "total_steps": 10, "time_s": step * 0.1, "samples_per_s": 100.0,
            "loss": 1.0 / step, "expert_load": [0.6, 0.4], "probe_gates": [[step / 10, 1 - step / 10]] * 2}


def steps(view) -> list[int]:
    return [int(s) for s in view.metrics["step"]]


@pytest.fixture
def run(tmp_path):
    """(cache, changes, writer): a run with two logged steps."""
    writer = RunWriter(tmp_path, CONFIG, name="shared", fsync=False)
    writer.on_train_start(INFO)
    for step in (1, 2):
        writer.on_step_end(record(step))
    yield RunCache(tmp_path), Changes(), writer
    writer.close()


def test_two_sessions_see_the_same_data_and_a_new_row_appears_for_both(run):
    cache, changes, writer = run
    first = cache.view(writer.run_id, changes)
    assert cache.view(writer.run_id, changes) is first  # the second tab gets the same snapshot
    assert steps(first) == [1, 2] and first.num_experts == 2
    assert first.last_gates["probe_gates"][0] == [0.2, 0.8]

    writer.on_step_end(record(3))
    changes.bump(writer.run_id)
    a, b = cache.view(writer.run_id, changes), cache.view(writer.run_id, changes)
    assert a is b and steps(a) == [1, 2, 3]
    assert a.last_gates["probe_gates"][0] == [0.3, 0.7]
    assert steps(first) == [1, 2]  # a snapshot a tab is still drawing never changes


def test_a_change_is_read_once_for_every_tab(run, monkeypatch):
    cache, changes, writer = run
    reads = []
    read_new = RunReader.read_new
    monkeypatch.setattr(RunReader, "read_new", lambda self, *a, **k: reads.append(1) or read_new(self, *a, **k))
    cache.view(writer.run_id, changes)
    writer.on_step_end(record(3))
    changes.bump(writer.run_id)
    before = len(reads)
    tabs = [threading.Thread(target=cache.view, args=(writer.run_id, changes)) for _ in range(6)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    assert len(reads) - before == 1
    assert steps(cache.view(writer.run_id, changes)) == [1, 2, 3]


def test_a_real_watcher_brings_a_new_row_to_every_tab(tmp_path):
    watcher = RunWatcher(tmp_path)
    writer = RunWriter(tmp_path, CONFIG, name="watched", fsync=False)
    try:
        writer.on_train_start(INFO)
        writer.on_step_end(record(1))
        cache = RunCache(tmp_path)
        deadline = time.time() + 30
        while steps(cache.view(writer.run_id, watcher)) != [1]:
            assert time.time() < deadline, "the first row never showed"
            time.sleep(0.05)
        writer.on_step_end(record(2))
        while steps(view := cache.view(writer.run_id, watcher)) != [1, 2]:
            assert time.time() < deadline, "the new row never showed"
            time.sleep(0.05)
        assert cache.view(writer.run_id, watcher) is view or steps(cache.view(writer.run_id, watcher)) == [1, 2]
    finally:
        writer.close()
        watcher.stop()


def test_a_failed_read_leaves_nothing_behind_and_the_next_tab_reads_again(run, monkeypatch):
    """A read that fails half-way (here: after the new rows were read, on the events file) must not leave
    the run's reader past rows no snapshot holds: the next tab reads the run from the top."""
    cache, changes, writer = run
    assert steps(cache.view(writer.run_id, changes)) == [1, 2]
    writer.on_step_end(record(3))
    changes.bump(writer.run_id)
    read_events = RunReader.read_events

    def damaged(self, run_id):
        monkeypatch.setattr(RunReader, "read_events", read_events)  # this once
        raise ValueError("events.jsonl: not JSON")

    monkeypatch.setattr(RunReader, "read_events", damaged)
    with pytest.raises(ValueError, match="events.jsonl"):
        cache.view(writer.run_id, changes)
    assert writer.run_id not in cache.cached_runs()
    view = cache.view(writer.run_id, changes)  # the next tab, with the version unchanged
    assert steps(view) == [1, 2, 3] and view.last_gates["probe_gates"][0] == [0.3, 0.7]


def test_a_rewritten_run_is_read_from_the_top(run, tmp_path):
    """A metrics.csv that shrank or was replaced (the folder made again under the same id) is not read on
    from the old position: that would splice the old file's rows onto the new one's tail."""
    cache, changes, writer = run
    assert steps(cache.view(writer.run_id, changes)) == [1, 2]
    metrics = writer.path / "metrics.csv"
    header, first, _ = metrics.read_text().split("\n", 2)
    replacement = metrics.with_suffix(".new")
    replacement.write_text(f"{header}\n{first}\n")
    replacement.replace(metrics)  # a new file, one row
    changes.bump(writer.run_id)
    assert steps(cache.view(writer.run_id, changes)) == [1]


def test_a_vanished_run_shows_no_stale_rows_and_comes_back_when_written_again(run):
    cache, changes, writer = run
    assert steps(cache.view(writer.run_id, changes)) == [1, 2]
    saved = writer.path.with_name("saved")
    shutil.copytree(writer.path, saved)
    shutil.rmtree(writer.path)
    changes.bump(writer.run_id)
    gone = cache.view(writer.run_id, changes)
    assert gone.metrics.empty and str(gone.status["state"]) == "unknown"
    shutil.copytree(saved, writer.path)
    changes.bump(writer.run_id)
    assert steps(cache.view(writer.run_id, changes)) == [1, 2]


def test_a_run_nobody_viewed_for_a_while_is_dropped(tmp_path, monkeypatch):
    writers = [RunWriter(tmp_path, CONFIG, name=name, fsync=False) for name in ("old", "watched")]
    for writer in writers:
        writer.on_train_start(INFO)
        writer.on_step_end(record(1))
    old, watched = (w.run_id for w in writers)
    cache, changes = RunCache(tmp_path), Changes()
    clock = [1000.0]
    monkeypatch.setattr(shared_runs.time, "monotonic", lambda: clock[0])
    cache.view(old, changes)
    cache.view(watched, changes)
    clock[0] += shared_runs.EVICT_AFTER_S / 2
    cache.view(watched, changes)
    assert set(cache.cached_runs()) == {old, watched}
    clock[0] += shared_runs.EVICT_AFTER_S / 2 + 1  # old: unviewed for longer than EVICT_AFTER_S
    cache.view(watched, changes)
    assert cache.cached_runs() == [watched]
    assert steps(cache.view(old, changes)) == [1]  # viewed again: read afresh
    for writer in writers:
        writer.close()


def test_the_run_list_is_shared_and_a_new_run_appears(run, tmp_path):
    cache, changes, writer = run
    runs = cache.runs(changes)
    assert [r.run_id for r in runs] == [writer.run_id]
    assert cache.runs(changes) is runs  # listed once for every tab while the folder is unchanged
    other = RunWriter(tmp_path, CONFIG, name="second", fsync=False)
    changes.bump(other.run_id)
    assert {r.run_id for r in cache.runs(changes)} == {writer.run_id, other.run_id}
    other.close()


def test_forget_runs_lists_again_at_once(run, tmp_path):
    cache, changes, writer = run
    assert len(cache.runs(changes)) == 1
    other = RunWriter(tmp_path, CONFIG, name="second", fsync=False)
    cache.forget_runs()
    assert len(cache.runs(changes)) == 2  # without waiting for the watcher's event
    other.close()


def test_memo_builds_each_key_once_and_keeps_a_bounded_number(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_runs, "MAX_MEMO", 3)
    cache, builds = RunCache(tmp_path), []
    build = lambda key: lambda: builds.append(key) or {"spec": key}  # noqa: E731
    assert cache.memo(("k", 1), build(1)) == {"spec": 1}
    assert cache.memo(("k", 1), build(1)) == {"spec": 1} and builds == [1]
    for key in (2, 3, 4):
        cache.memo(("k", key), build(key))
    cache.memo(("k", 1), build(1))  # dropped as the least recently used: built again
    assert builds == [1, 2, 3, 4, 1]
