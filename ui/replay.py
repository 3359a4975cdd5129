"""Replay of one run, live or finished: a training-step slider and a play button over its saved gate snapshots.

Every logged step left a snapshot in gates.jsonl (the probe batch's gates, the expert × regime matrix);
the live charts show only the newest. Here a slider picks any of them, and the probe heatmap, the
expert × regime matrix, expert utilisation (from the metrics row of that step) and the entropy /
varentropy quadrant are drawn as they were then, with a red marker at that step on the loss and entropy
curves. Play steps through about PLAY_FRAMES snapshots spread over the run, one every PLAY_EVERY_S.

Snapshots are read through lfm.store.snapshots.SnapshotIndex (one seek per snapshot; the index is built
once per session and run and extended with what a live run appends), so a 100,000-step run replays as
fast as a short one. The GIF export draws chosen snapshots' matrix and probe heatmap (ui.replay_charts).
"""

import pyarrow as pa
import streamlit as st

from lfm.store.damage import RunDamaged
from lfm.store.snapshots import SnapshotIndex
from ui import damaged, run_charts
from ui.images import GIF_EXPORT_AVAILABLE
from ui.replay_charts import replay_gif, with_step_marker

PLAY_EVERY_S = 1.0  # seconds per frame while playing: time to see each one, and for the server to draw it
PLAY_FRAMES = 40    # a play-through shows about this many snapshots, whatever the run's length
GIF_FRAMES = (12, 24, 48)  # choices of frames in the GIF


def snapshot_index(reader, run_id: str) -> SnapshotIndex:
    """This session's index of the run's gates.jsonl, extended with whatever was appended since last time."""
    indexes = st.session_state.setdefault("_snapshot_indexes", {})
    path = reader.path(run_id) / "gates.jsonl"
    if run_id not in indexes or indexes[run_id].path != path:
        indexes[run_id] = SnapshotIndex(path)
    index = indexes[run_id]
    index.refresh()
    return index


def _draw(spec: dict) -> None:
    """A Vega-Lite dict of ui.run_charts.live_spec, with its tables as Arrow made on one thread (as ui.live)."""
    spec["datasets"] = {key: pa.Table.from_pandas(table, nthreads=1) for key, table in spec["datasets"].items()}
    st.vega_lite_chart(spec, width="stretch")


def _loads_at(metrics, step: int, num_experts: int) -> list[float] | None:
    """Each expert's load in the newest metrics row at or before step (the utilisation chart's input)."""
    columns = [f"load_{e}" for e in range(num_experts)]
    if metrics.empty or any(c not in metrics for c in columns):
        return None
    rows = metrics[metrics["step"] <= step]
    row = rows.iloc[-1] if len(rows) else metrics.iloc[0]
    return [float(row[c]) for c in columns]


def replay_section(reader, view, smoothing: float, key: str = "replay") -> None:
    """The replay of view's run (a ui.shared_runs.RunView): slider, play button, charts and GIF export."""
    run_id = view.run_id
    index = snapshot_index(reader, run_id)
    count = len(index)
    if count == 0:
        st.info("No gate snapshots yet: they are written at every log step.")
        return
    position_key, playing_key = f"{key}_position_{run_id}", f"{key}_playing_{run_id}"
    stride = max(1, round(count / PLAY_FRAMES))
    playing = st.session_state.get(playing_key, False)
    # the slider's value lives in session state only (never also as its default): newest snapshot first
    st.session_state[position_key] = min(st.session_state.get(position_key, count - 1), count - 1)

    def toggle_play():
        starting = not st.session_state.get(playing_key, False)
        if starting and st.session_state.get(position_key, count - 1) >= count - 1:
            st.session_state[position_key] = 0  # at the end: play from the start
        st.session_state[playing_key] = starting

    play, note = st.columns([1, 5])
    play.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                key=f"{key}_play_{run_id}", on_click=toggle_play, width="stretch")
    note.caption(f"{count:,} snapshots, one per log step. Play shows about {min(count, PLAY_FRAMES)} of them, "
                 f"one every {PLAY_EVERY_S:g} s; drag the slider to any snapshot.")

    @st.fragment(run_every=PLAY_EVERY_S if playing else None)
    def frame():
        if st.session_state.get(playing_key):
            position = st.session_state.get(position_key, 0)
            if position >= count - 1:
                st.session_state[playing_key] = False
                st.rerun()  # the whole page: the fragment's refresh must turn off
            st.session_state[position_key] = min(position + stride, count - 1)
        position = st.slider("Snapshot", 0, max(count - 1, 1), key=position_key, disabled=count == 1,
                             help="Which saved snapshot to show: 0 is the first log step, the right end the newest.")
        try:
            snapshot = index.read_at(position)
        except RunDamaged as exc:  # a fragment shows its own exceptions: the page's guard never sees this one
            damaged.warn(view.run_id, exc)
            return
        st.markdown(f"**Training step {snapshot.step:,}** (snapshot {position + 1:,} of {count:,})")
        info = view.info or {}
        labels, regimes = info.get("probe_labels"), info.get("regime_names")
        left, right = st.columns(2)
        with left:
            st.markdown("**Probe batch: each sample's gate**")
            _draw(run_charts.live_spec("probe_heatmap", snapshot.probe_gates, labels, regimes))
        with right:
            st.markdown("**Expert × regime**")
            if snapshot.regime_matrix:
                _draw(run_charts.live_spec("regime_matrix_chart", snapshot.regime_matrix, regimes))
            else:
                st.caption("This data set has no regime labels, so there is no expert × regime matrix.")
        left, right = st.columns(2)
        loads = _loads_at(view.metrics, snapshot.step, view.num_experts)
        with left:
            st.markdown("**Expert utilisation**")
            if loads is not None:
                _draw(run_charts.live_spec("utilisation_chart", loads))
        with right:
            st.markdown("**Entropy / varentropy quadrant**")
            _draw(run_charts.live_spec("quadrant_chart", snapshot.probe_gates, labels, regimes))
        left, right = st.columns(2)
        with left:
            st.markdown("**Loss** (red: the replayed step)")
            _draw(with_step_marker(run_charts.live_spec("loss_chart", view.metrics, smoothing=smoothing,
                                                        events=view.events), snapshot.step))
        with right:
            st.markdown("**Gate entropies** (red: the replayed step)")
            _draw(with_step_marker(run_charts.live_spec("entropy_chart", view.metrics, view.num_experts,
                                                        smoothing=smoothing, events=view.events), snapshot.step))

    frame()
    gif_section(index, view, key)


def gif_section(index: SnapshotIndex, view, key: str) -> None:
    """Download the replay of the matrix and the probe heatmap as an animated GIF (drawn when pressed)."""
    if not GIF_EXPORT_AVAILABLE:
        st.caption("The GIF export needs Pillow and vl-convert-python: `pip install pillow vl-convert-python`.")
        return
    frames_col, button_col = st.columns([1, 3])
    frames = frames_col.selectbox("Frames in the GIF", GIF_FRAMES, key=f"{key}_gif_frames")
    positions = index.frames(frames)
    info = view.info or {}
    button_col.download_button(
        f"Replay as GIF ({len(positions)} frames)",
        lambda: replay_gif(index, positions, info.get("probe_labels"), info.get("regime_names")),
        f"{view.run_id}-replay.gif", "image/gif", icon=":material/gif:", key=f"{key}_gif_{view.run_id}",
        help="The expert × regime matrix and the probe heatmap at snapshots spread evenly over the run, for "
             "slides; drawn on the server when pressed (about a second per frame on a 2-core machine).")
