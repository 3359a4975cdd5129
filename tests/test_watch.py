"""RunWatcher: file events under runs/ bump the right counters."""

import time

from lfm.store import RunWriter
from lfm.store.watch import RunWatcher


def eventually(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "no file event seen"
        time.sleep(0.02)


def test_new_runs_and_new_rows_are_noticed(tmp_path):
    watcher = RunWatcher(tmp_path)
    try:
        folders = watcher.folder_version
        writer = RunWriter(tmp_path, {"hyperparameters": {}, "training": {}}, name="w")
        eventually(lambda: watcher.folder_version > folders)
        before = watcher.version(writer.run_id)
        writer.on_train_start({"num_experts": 2, "total_steps": 4})
        writer.on_step_end({"step": 1, "expert_load": [0.5, 0.5]})
        eventually(lambda: watcher.version(writer.run_id) > before)
        assert watcher.version("some-other-run") == 0
    finally:
        watcher.stop()
