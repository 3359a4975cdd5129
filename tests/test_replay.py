"""Replay: the snapshot index of gates.jsonl reads the snapshot at a chosen step, on a short run and a
100,000-step one (within bench/bench_replay.py's bounds, with room for a busy machine); the GIF export has
one frame per chosen snapshot; the Runs page steps through a run's snapshots."""

import io
import json
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from lfm.config import RunConfig
from lfm.store import RunWriter
from lfm.store.files import rounded
from lfm.store.snapshots import SnapshotIndex
from test_long_run import REGIMES, gate_snapshot, write_run
from ui.images import GIF_EXPORT_AVAILABLE

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
# bench/bench_replay.py measured 0.73 s to index 10,000 snapshots and 0.14 ms per read at a load average of
# 40 on 2 cores; the bounds leave room for a machine as busy again
MAX_BUILD_S, MAX_READ_S = 5.0, 0.05


def record(step: int, with_gates: bool = True) -> dict:
    gates, matrix = gate_snapshot(step) if with_gates else (None, None)
    return {"step": step, "epoch": 0, "loss": 1.0 / step, "expert_load": [0.25] * 4, "probe_gates": gates,
            "regime_matrix": matrix}


def short_run(runs_dir: Path, steps=range(5, 105, 5)) -> RunWriter:
    writer = RunWriter(runs_dir, RunConfig().to_dict(), name="short", fsync=False)
    writer.on_train_start({"total_steps": 100, "num_experts": 4, "regime_names": REGIMES,
                           "probe_labels": [i % 4 for i in range(64)]})
    for step in steps:
        writer.on_step_end(record(step))
    return writer


def test_the_snapshot_at_a_chosen_step_is_the_newest_at_or_before_it(tmp_path):
    writer = short_run(tmp_path)
    index = SnapshotIndex(writer.path / "gates.jsonl")
    assert index.refresh() == 20 and index.steps == list(range(5, 105, 5))
    for chosen, shown in [(50, 50), (53, 50), (4, 5), (1_000, 100)]:
        snapshot = index.read(chosen)
        assert snapshot.step == shown
        gates, matrix = gate_snapshot(shown)
        assert snapshot.probe_gates == rounded(gates) and snapshot.regime_matrix == rounded(matrix)
    assert index.frames(5) == [0, 5, 10, 14, 19] and index.frames(50) == list(range(20))


def test_a_live_run_extends_the_index_and_a_half_written_line_waits(tmp_path):
    writer = short_run(tmp_path, steps=[10, 20])
    index = SnapshotIndex(writer.path / "gates.jsonl")
    assert index.refresh() == 2 and index.refresh() == 0
    writer.on_step_end(record(30, with_gates=False))  # a record without a snapshot is not indexed
    writer.on_step_end(record(40))
    line = json.dumps({"step": 50, "probe_gates": [[0.5, 0.5]], "regime_matrix": None})
    with open(writer.path / "gates.jsonl", "a") as f:
        f.write(line[:20])  # a writer caught mid-line
    assert index.refresh() == 1 and index.steps == [10, 20, 40]
    with open(writer.path / "gates.jsonl", "a") as f:
        f.write(line[20:] + "\n")
    assert index.refresh() == 1 and index.read(55).probe_gates == [[0.5, 0.5]]


def test_lines_in_another_layout_are_parsed_in_full(tmp_path):
    path = tmp_path / "gates.jsonl"
    path.write_text('{"regime_matrix": [[1]], "step": 7, "probe_gates": [[1.0]]}\nnot json\n'
                    '{"probe_gates": null, "step": 8}\n')
    index = SnapshotIndex(path)
    assert index.refresh() == 1 and index.read(8).step == 7


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("long")
    return runs_dir, {every: write_run(runs_dir, every, 6) for every in (10, 1)}


def test_a_100000_step_run_replays_fast(long_runs):
    runs_dir, ids = long_runs
    index = SnapshotIndex(runs_dir / ids[10] / "gates.jsonl")
    start = time.perf_counter()
    assert index.refresh() == 10_000
    build = time.perf_counter() - start
    reads = []
    for chosen in (77_777, 5, 100_000, 50_005):
        start = time.perf_counter()
        snapshot = index.read(chosen)
        reads.append(time.perf_counter() - start)
        shown = chosen - chosen % 10
        assert snapshot.step == max(shown, 10)
        assert snapshot.regime_matrix == rounded(gate_snapshot(snapshot.step)[1])
    print(f"index of 10,000 snapshots built in {build:.3f} s; a read {statistics.median(reads) * 1e3:.2f} ms")
    assert build < MAX_BUILD_S and statistics.median(reads) < MAX_READ_S
    # logged every step, with snapshots only in the last records the writer wrote (test_long_run's layout)
    sparse = SnapshotIndex(runs_dir / ids[1] / "gates.jsonl")
    start = time.perf_counter()
    assert sparse.refresh() == 5 and time.perf_counter() - start < MAX_BUILD_S
    assert sparse.read(60_000).step == 99_996


@pytest.mark.skipif(not GIF_EXPORT_AVAILABLE, reason="needs Pillow and vl-convert-python")
def test_the_gif_has_one_frame_per_chosen_snapshot(tmp_path):
    from PIL import Image

    from ui.replay_charts import replay_gif

    writer = short_run(tmp_path)
    index = SnapshotIndex(writer.path / "gates.jsonl")
    index.refresh()
    positions = index.frames(3)
    gif = Image.open(io.BytesIO(replay_gif(index, positions, [i % 4 for i in range(64)], REGIMES)))
    assert gif.format == "GIF" and gif.n_frames == len(positions) == 3
    sizes = set()
    for k in range(gif.n_frames):
        gif.seek(k)
        sizes.add(gif.size)
    assert len(sizes) == 1


def test_the_runs_page_steps_through_the_snapshots(runs_dir):
    writer = short_run(runs_dir)
    writer.on_train_end(SimpleNamespace(status="finished", reason="done", steps=100))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any(m.value.startswith("**Training step 100**") for m in at.markdown)  # the newest first
    slider = next(s for s in at.slider if s.label == "Snapshot")
    slider.set_value(9).run()
    assert not at.exception
    assert any(m.value.startswith("**Training step 50** (snapshot 10 of 20)") for m in at.markdown)
    play = next(b for b in at.button if b.label == "Play")
    play.click().run()
    assert not at.exception and any(b.label == "Pause" for b in at.button)
