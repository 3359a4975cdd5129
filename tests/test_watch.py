"""RunWatcher: file events under runs/ bump the right counters."""

import pytest

from lfm.store import RunWriter
from lfm.store.watch import PollingObserver, RunWatcher, poll_interval_from_env
from support import set_env, wait_for


@pytest.mark.parametrize("poll_s", [None, 0.2], ids=["os-events", "polling"])
def test_new_runs_and_new_rows_are_noticed(tmp_path, poll_s):
    watcher = RunWatcher(tmp_path, poll_s=poll_s)
    assert isinstance(watcher._observer, PollingObserver) == (poll_s is not None)
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


@pytest.mark.parametrize("text, seconds", [(None, None), ("", None), ("0", None), ("2", 2.0), (" 0.5 ", 0.5)])
def test_lfm_watch_poll_chooses_polling(monkeypatch, text, seconds):
    set_env(monkeypatch, "LFM_WATCH_POLL", text)
    assert poll_interval_from_env() == seconds


@pytest.mark.parametrize("text", ["fast", "-1", "0.01", "nan", "1e9"])
def test_a_bad_lfm_watch_poll_is_refused_naming_it(monkeypatch, text):
    monkeypatch.setenv("LFM_WATCH_POLL", text)
    with pytest.raises(ValueError, match="LFM_WATCH_POLL = .*allowed 0 .* or seconds from 0.1 to 3600"):
        poll_interval_from_env()
