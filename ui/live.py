"""The live view of one run: progress, status and every chart, redrawn by a fragment while it trains.

Data flows one way: run store -> RunView (one snapshot shared by every tab, ui.shared_runs) -> chart specs
(ui.run_charts, built once per snapshot for every tab) -> while the run is live, the live grid
(ui.live_charts: the browser keeps each chart's Vega view and takes in only changed data), else
st.vega_lite_chart. The watchdog-backed RunWatcher says when a run's files changed, so an idle run costs
no reads, and a change is read once whatever the number of tabs watching it.
"""

from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import streamlit as st

from lfm.config import RunSettings
from lfm.store import RunReader
from lfm.store.schema import LIVE_STATES, Metric, RunState, load_column
from lfm.store.watch import RunWatcher
from ui import damaged, live_charts, run_charts, state
from ui.shared_runs import RunView
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


def run_view(run_id: str, watcher: RunWatcher) -> RunView:
    """The run's newest snapshot, shared by every tab (ui.shared_runs): read only if its files changed."""
    return state.run_cache().view(run_id, watcher)


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


def arrow_bytes(table: pd.DataFrame) -> bytes:
    """A DataFrame as Arrow IPC stream bytes, the form st.vega_lite_chart sends a chart's data in.

    Converted here once per snapshot for every tab, on one thread: handed a DataFrame, Streamlit converts
    it again for each tab on each redraw, and pyarrow starts a thread pool for every larger table."""
    arrow = pa.Table.from_pandas(table, nthreads=1)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return sink.getvalue().to_pybytes()


def live_spec(view: RunView, call: "ChartCall") -> dict:
    """The chart's Vega-Lite dict with its data as Arrow bytes, built once per snapshot and options.

    Drawn from run_charts.live_spec, not the Altair builder, so a redraw costs a few ms of Python, not the
    ~100 ms of building an Altair chart; and every tab watching the run gets the spec the first one built:
    with 6 tabs, building and converting each tab's charts was two thirds of what serving the pages cost
    (py-spy, README "Many tabs"). The key holds everything a chart's arguments depend on (chart_calls):
    the snapshot (its args and events come from it) and the options besides the events (smoothing, the
    live point budget)."""
    def build() -> dict:
        spec = run_charts.live_spec(call.name, *call.args, **call.kwargs)
        spec["datasets"] = {key: arrow_bytes(table) for key, table in spec["datasets"].items()}
        return spec

    return state.run_cache().memo(("chart", view.serial, call.name, _options(call)), build)


def _options(call: "ChartCall") -> tuple:
    """What a chart's spec depends on besides its snapshot: its options, all but the events (which come
    with the snapshot), as a memo key."""
    return tuple(sorted((name, value) for name, value in call.kwargs.items() if name != "events"))


def _chart(view: RunView, call: "ChartCall") -> None:
    """One live chart and its caption."""
    # a copy: Streamlit takes "datasets" out of the spec it sends, and the shared spec must stay whole
    st.vega_lite_chart({**live_spec(view, call)}, width="stretch")
    st.caption(run_charts.EXPLANATIONS[call.name])


class ChartCall(NamedTuple):
    title: str  # the subheader it is shown under
    name: str  # the ui.run_charts builder (and EXPLANATIONS key)
    args: tuple
    kwargs: dict


# Page layout: rows of chart slots; a row of two is drawn side by side.
LAYOUT = (("loss", "entropy"), ("gate_load",), ("probe", "regime_matrix"), ("utilisation", "quadrant"))
MISSING = {"regime_matrix": "This data set has no regime labels, so there is no expert × regime matrix."}


# A live view redraws every chart in every tab about once a second, and in a browser a chart's redraw
# costs in proportion to its points: on a long run (3,000+ rows; bench/bench_load.py's method, one
# headless Chromium tab) the 7 charts took 1.07 core-seconds per redraw at the full budget and 0.80 at
# this one. So a live view draws the line charts from half the points and the load heatmap from half the
# columns: a bucket is then about 4 px of a half-width chart. A run that has ended is drawn at the full
# budget (ui.chart_style.MAX_POINTS), as are the Runs page and the SVG downloads.
LIVE_BUDGET = {"loss": {"max_points": 1400}, "entropy": {"max_points": 1400}, "gate_load": {"max_columns": 150}}


def chart_calls(view: RunView, smoothing: float, live: bool = False) -> dict[str, ChartCall]:
    """Every chart the run's data allows, by slot: the one list both the live page and the SVG
    downloads draw from. live: a view redrawn every second, drawn from fewer points (LIVE_BUDGET)."""
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
    if live:
        calls = {slot: call._replace(kwargs={**call.kwargs, **LIVE_BUDGET.get(slot, {})})
                 for slot, call in calls.items()}
    return calls


def all_charts(view: RunView, smoothing: float, live: bool = False) -> None:
    """Every chart in a projector-friendly grid, each with its 'what am I looking at' text. live: the
    view is redrawn every second while the run trains (fewer points, LIVE_BUDGET)."""
    calls = chart_calls(view, smoothing, live)
    if not calls:
        st.info("Charts appear after the first log step.")
        return
    if live and live_charts.vega_loader():
        live_charts.draw(live_grid(view, calls), key=f"live_charts_{view.run_id}")
        return
    for row in LAYOUT:
        for slot, column in zip(row, st.columns(2) if len(row) == 2 else [st.container()]):
            with column:
                call = calls.get(slot)
                if call is not None:
                    st.subheader(call.title)
                    _chart(view, call)
                elif slot in MISSING:
                    st.caption(MISSING[slot])


def live_grid(view: RunView, calls: dict[str, "ChartCall"]) -> bytes:
    """The live charts of this snapshot as ui.live_charts draws them: LAYOUT's rows, each chart with its
    title and caption; encoded once per snapshot and options for every tab."""
    def build() -> bytes:
        rows = []
        for row in LAYOUT:
            cells = []
            for slot in row:
                call = calls.get(slot)
                if call is not None:
                    spec = run_charts.live_spec(call.name, *call.args, **call.kwargs)
                    cells.append({"slot": slot, "title": call.title, "caption": run_charts.EXPLANATIONS[call.name],
                                  "chart": live_charts.chart(spec)})
                elif slot in MISSING:
                    cells.append({"slot": slot, "note": MISSING[slot]})
            if cells:
                rows.append({"two": len(row) == 2, "cells": cells})
        return live_charts.payload(rows)

    options = tuple((slot, _options(call)) for slot, call in sorted(calls.items()))
    return state.run_cache().memo(("live grid", view.serial, options), build)


def list_runs(reader: RunReader, watcher: RunWatcher) -> list:
    """All runs in reader's store, newest first, listed once for every tab (ui.shared_runs): again only
    when the watcher saw the folder change."""
    return state.run_cache(reader.runs_dir).runs(watcher)


def forget_run_list() -> None:
    """Make the next list_runs read the store again (e.g. right after starting a run here)."""
    state.run_cache().forget_runs()


def run_label(summary) -> str:
    """One line per run for pickers: name or id, state, lambda and balance; marked first if it is damaged."""
    settings = summary.settings
    name = summary.name or summary.run_id
    return damaged.picker_label(summary, f"{name} · {summary.state} · λ={_shown(settings['lambda_entropy'])} "
                                f"· balance={_shown(settings['balance_coef'])} · {_shown(settings['dataset'])} "
                                f"· {summary.run_id}")


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
