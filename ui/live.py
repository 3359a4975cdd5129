"""The live view of one run: progress, status and every chart, redrawn by a fragment while it trains.

Data flows one way: run store -> RunView (this session's incremental copy) -> ui.run_charts -> st.vega_lite_chart.
The watchdog-backed RunWatcher says when a run's files changed, so an idle run costs no reads; a full
re-read happens only when a view first opens a run.
"""

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import streamlit as st

from lfm.config import RunSettings
from lfm.store import RunReader
from lfm.store.damage import load_columns
from lfm.store.schema import LIVE_STATES, Metric, RunState, load_column
from lfm.store.watch import RunWatcher
from ui import run_charts
from ui.text import plain

# How a run's state reads in the UI: an icon before the state's own word.
STATE_ICONS = {
    RunState.QUEUED: ":material/hourglass_top:",
    RunState.RUNNING: ":material/directions_run:",
    RunState.PAUSED: ":material/pause_circle:",
    RunState.FINISHED: ":material/check_circle:",
    RunState.STOPPED: ":material/stop_circle:",
    RunState.DIVERGED: ":material/error:",
    RunState.FAILED: ":material/cancel:",
    RunState.CANCELLED: ":material/block:",
    RunState.INTERRUPTED: ":material/warning:",
}
RATE_WINDOW = 5  # log intervals the shown samples/s is the median of
FORCED_REFRESH_S = 5.0  # re-check a run even without a file event (e.g. a folder on a network share)


@dataclass
class RunView:
    """What this session has read of one run so far."""

    run_id: str
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    last_gates: dict | None = None  # the newest probe-gate snapshot
    events: list = field(default_factory=list)  # lambda changes
    info: dict | None = None  # num_experts, regime names, probe labels
    status: dict = field(default_factory=dict)
    version: int = -1  # the watcher's version of the run when last read
    read_at: float = 0.0

    def refresh(self, reader: RunReader, watcher: RunWatcher) -> None:
        version = watcher.version(self.run_id)
        if version == self.version and time.time() - self.read_at < FORCED_REFRESH_S:
            return
        if self.version < 0:
            reader.reset(self.run_id)  # first look: read from the top
        self.version, self.read_at = version, time.time()
        self.status = reader.status(self.run_id)
        if self.info is None:
            self.info = reader.info(self.run_id)
        rows, gates = reader.read_new(self.run_id, gates="last")
        if len(rows):
            self.metrics = rows if self.metrics.empty else pd.concat([self.metrics, rows], ignore_index=True)
        if gates:
            self.last_gates = gates[-1]
        self.events = reader.read_events(self.run_id)

    @property
    def num_experts(self) -> int:
        if self.info and self.info.get("num_experts"):
            return int(self.info["num_experts"])
        return len(load_columns(list(self.metrics.columns)))  # load_0, load_1, ... (not load_entropy)


def run_view(run_id: str) -> RunView:
    """This session's RunView of a run, created on first use."""
    views = st.session_state.setdefault("_run_views", {})
    if run_id not in views:
        views[run_id] = RunView(run_id)
    return views[run_id]


def state_badge(state: str) -> str:
    icon = STATE_ICONS.get(state, ":material/help:")
    return f"{icon} {plain(str(state))}"  # a state a file made up is shown as text


def progress(view: RunView, settings: RunSettings, state: str) -> None:
    """Progress bar with steps, epoch, samples/s and time left; the status line with its reason.

    settings: the run's (RunSummary.settings)."""
    last = view.metrics.iloc[-1] if not view.metrics.empty else None
    total = int(view.info["total_steps"]) if view.info else None
    step = int(last[Metric.STEP]) if last is not None else 0
    epochs = settings["num_epochs"]
    if last is not None and total:
        text = f"step {step:,} / {total:,} · epoch {int(last[Metric.EPOCH]) + 1} / {epochs}"
        if state == RunState.RUNNING:  # a rate and a time left only mean something while it trains
            batch = settings["batch_size"] or 1
            # median of the last few log intervals: one interval's rate jumps with whatever else ran
            rate = float(view.metrics[Metric.SAMPLES_PER_S].tail(RATE_WINDOW).median() or 0)
            left = (total - step) * batch / rate if rate > 0 else None
            text += f" · {rate:,.0f} samples/s" + (f" · about {left:,.0f} s left" if left is not None else "")
        st.progress(min(step / total, 1.0), text=text)
    elif state == RunState.CANCELLED:
        st.progress(0.0, text="never started: taken off the queue")
    else:
        st.progress(0.0, text="waiting for the first log step…")
    reason = view.status.get("reason") or ""
    line = f"**Status:** {state_badge(state)}" + (f" — {plain(reason)}" if reason and state not in LIVE_STATES else "")
    if state == RunState.INTERRUPTED:
        line += " — its writer stopped without closing the run (killed, or the machine went down)"
    st.markdown(line)


def _chart(name: str, *args, **kwargs) -> None:
    """Chart `name` (a ui.run_charts builder, given that builder's arguments) and its caption.

    Drawn from run_charts.live_spec, not the Altair builder: the training thread shares this process, so
    a redraw every second must cost a few ms of Python, not the ~100 ms of building an Altair chart.
    """
    spec = run_charts.live_spec(name, *args, **kwargs)
    # Arrow tables made here on one thread: Streamlit's own conversion lets pyarrow start a thread pool
    # for every larger table, on each redraw (the bytes sent are the same)
    spec["datasets"] = {key: pa.Table.from_pandas(table, nthreads=1) for key, table in spec["datasets"].items()}
    st.vega_lite_chart(spec, width="stretch")
    st.caption(run_charts.EXPLANATIONS[name])


class ChartCall(NamedTuple):
    title: str  # the subheader it is shown under
    name: str  # the ui.run_charts builder (and EXPLANATIONS key)
    args: tuple
    kwargs: dict


# Page layout: rows of chart slots; a row of two is drawn side by side.
LAYOUT = (("loss", "entropy"), ("gate_load",), ("probe", "regime_matrix"), ("utilisation", "quadrant"))
MISSING = {"regime_matrix": "This data set has no regime labels, so there is no expert × regime matrix."}


def chart_calls(view: RunView, smoothing: float) -> dict[str, ChartCall]:
    """Every chart the run's data allows, by slot: the one list both the live page and the SVG
    downloads draw from."""
    df, E = view.metrics, view.num_experts
    if df.empty or not E:
        return {}
    info, gates, events = view.info or {}, view.last_gates or {}, view.events
    probe, labels, regimes = gates.get("probe_gates"), info.get("probe_labels"), info.get("regime_names")
    load = [float(df[load_column(e)].iloc[-1]) for e in range(E)]
    calls = {
        "loss": ChartCall("Loss", "loss_chart", (df,), dict(smoothing=smoothing, events=events)),
        "entropy": ChartCall("Gate entropies", "entropy_chart", (df, E), dict(smoothing=smoothing, events=events)),
        "gate_load": ChartCall("Expert load over training", "gate_load_heatmap", (df, E), dict(events=events)),
        "utilisation": ChartCall("Expert utilisation", "utilisation_chart", (load,), {}),
    }
    if probe:
        calls["probe"] = ChartCall("Probe batch: each sample's gate", "probe_heatmap", (probe, labels, regimes), {})
        calls["quadrant"] = ChartCall("Entropy / varentropy quadrant", "quadrant_chart", (probe, labels, regimes), {})
    if gates.get("regime_matrix"):
        calls["regime_matrix"] = ChartCall("Expert × regime", "regime_matrix_chart",
                                           (gates["regime_matrix"], regimes), {})
    return calls


def all_charts(view: RunView, smoothing: float) -> None:
    """Every live chart in a projector-friendly grid, each with its 'what am I looking at' text."""
    calls = chart_calls(view, smoothing)
    if not calls:
        st.info("Charts appear after the first log step.")
        return
    for row in LAYOUT:
        for slot, column in zip(row, st.columns(2) if len(row) == 2 else [st.container()]):
            with column:
                call = calls.get(slot)
                if call is not None:
                    st.subheader(call.title)
                    _chart(call.name, *call.args, **call.kwargs)
                elif slot in MISSING:
                    st.caption(MISSING[slot])


def list_runs(reader: RunReader, watcher: RunWatcher) -> list:
    """All runs in the store, newest first; re-listed only when the watcher saw the folder change."""
    cache = st.session_state.get("_run_list")
    version = watcher.folder_version
    if cache is None or cache[0] != version or time.time() - cache[2] > FORCED_REFRESH_S:
        cache = (version, reader.list_runs(), time.time())
        st.session_state["_run_list"] = cache
    return cache[1]


def forget_run_list() -> None:
    """Make the next list_runs read the store again (e.g. right after starting a run here)."""
    st.session_state.pop("_run_list", None)


def run_label(summary) -> str:
    """One line per run for pickers: name or id, state, lambda and balance."""
    settings = summary.settings
    name = summary.name or summary.run_id
    return (f"{name} · {summary.state} · λ={_shown(settings['lambda_entropy'])} "
            f"· balance={_shown(settings['balance_coef'])} · {_shown(settings['dataset'])} · {summary.run_id}")


def _shown(value) -> str:
    """A recorded setting for a label: "?" where the run's record has no usable value."""
    return "?" if value is None else str(value)


def watch_for_new_runs(watcher: RunWatcher, every_s: float = 2.0) -> None:
    """While nothing trains, check cheaply for a new run (e.g. from the CLI) and redraw if one appears."""
    st.session_state.setdefault("_seen_folder_version", watcher.folder_version)

    @st.fragment(run_every=every_s)
    def _check():
        if watcher.folder_version != st.session_state["_seen_folder_version"]:
            st.session_state["_seen_folder_version"] = watcher.folder_version
            st.rerun()

    _check()
