"""RunWatcher: file events under runs/ bump the right counters."""

from lfm.store import RunWriter
from lfm.store.watch import RunWatcher
from support import wait_for


def test_new_runs_and_new_rows_are_noticed(tmp_path):
    watcher = RunWatcher(tmp_path)
    try:
        folders = watcher.folder_version
        writer = RunWriter(tmp_path, {"hyperparameters": {}, "training": {}}, name="w")
        wait_for(lambda: watcher.folder_version > folders, 5, "the new run folder's event", every=0.02)
        before = watcher.version(writer.run_id)
        writer.on_train_start({"num_experts": 2, "total_steps": 4})
        writer.on_step_end({"step": 1, "expert_load": [0.5, 0.5]})
        wait_for(lambda: watcher.version(writer.run_id) > before, 5, "the new rows' events", every=0.02)
        assert watcher.version("some-other-run") == 0
    finally:
        watcher.stop()
