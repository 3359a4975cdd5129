"""Runs: every run in the store (started here, from the CLI, or earlier), with its charts, files and replay.

Export (lfm.store.export builds the bytes): the metrics as CSV, the settings as the seed's hyperparameters.json
and training.json, the checkpoint, TensorBoard event files (lfm.store.tensorboard, zipped), the run's
provenance, and each chart as SVG. Streamlit's own chart toolbar (hover a chart)
gives PNG only, so the SVG files are drawn on the server by ui.explore_charts.svg_bytes. Every button
builds its file when pressed (a callable), so showing the page reads no checkpoint and draws no SVG.
Replay (ui.replay): a slider and a Play button over the run's saved gate snapshots, under its charts.
A run whose files cannot be read is listed all the same, its problem in the table ("unreadable: metrics.csv:
line 7 has 12 fields, the header 11"), and shown with whatever of it can be read (ui.damaged).
Under the picker: who started the selected run and who may steer it (lfm.lab.ownership.steering_note).
"""

import functools

import pandas as pd
import streamlit as st

from lfm.store import export, provenance, tensorboard
from lfm.config import ConfigError
from lfm.lab.ownership import owner_of, steering_note
from ui import damaged, ownership, run_charts, state
from ui.text import plain
from ui.explore_charts import SVG_EXPORT_AVAILABLE, svg_bytes
from lfm.store.schema import Metric
from ui.live import LAYOUT, all_charts, chart_calls, list_runs, progress, run_label, run_view, watch_for_new_runs
from ui.shared_runs import RunView
from ui.replay import replay_section
from ui.routing import through_router

through_router()  # a direct link on a fresh server: see ui/routing.py
st.title("Runs")
st.caption("Every run in the run store, newest first: dashboard runs, CLI runs and earlier sessions alike.")
reader, watcher = state.reader(), state.watcher()
runs = list_runs(reader, watcher)
if not runs:
    st.info("No runs yet: start one on **Train & watch** or with `python -m lfm train`.")
    watch_for_new_runs(watcher)
    st.stop()


def row(r) -> dict:
    settings, last = r.settings, r.last_metrics or {}
    return {
        "run": r.run_id, "name": r.name or "", "state": str(r.state),
        "problem": damaged.unreadable(r.problem) if r.problem else "", "dataset": settings["dataset"],
        "lambda": settings["lambda_entropy"], "balance": settings["balance_coef"],
        "experts": settings["num_experts"], "step": last.get(Metric.STEP), "loss": last.get(Metric.LOSS),
        "val loss": last.get(Metric.VAL_LOSS), "routing H (bits)": last.get(Metric.ROUTING_ENTROPY),
        "load H (bits)": last.get(Metric.LOAD_ENTROPY), "created": r.created,
    }  # fmt: skip


def svg_charts(view, smoothing: float) -> dict:
    """Title -> zero-argument function drawing that chart as on this page (for the SVG downloads)."""
    calls = chart_calls(view, smoothing)
    return {calls[slot].title: functools.partial(run_charts.BUILDERS[calls[slot].name], *calls[slot].args,
                                                 **calls[slot].kwargs)
            for row in LAYOUT for slot in row if slot in calls}  # in the page's order


def export_section(reader, summary, view, smoothing: float) -> None:
    """Download buttons for one run's files and charts."""
    run_id = summary.run_id
    c1, c2, c3, c4 = st.columns(4)
    # a damaged run's files are read when a button is pressed, after the page was drawn: offer none of them
    unreadable = f"Not for this run: it is {damaged.unreadable(summary.problem)}." if summary.problem else None
    c1.download_button("Metrics (CSV)", lambda: export.metrics_csv(reader, run_id), export.metrics_file_name(run_id),
                       "text/csv", icon=":material/table:", key="export_metrics", width="stretch",
                       disabled=bool(unreadable), help=unreadable)
    try:
        configs = export.config_files(summary.config)
    except ConfigError as exc:
        st.error(f"This run's settings do not validate, so they cannot be exported: {plain(exc)}")
        configs = {}
    for column, name in zip((c2, c3), export.CONFIG_FILES):
        column.download_button(name, configs.get(name, b""), name, "application/json", icon=":material/settings:",
                               key=f"export_{name}", disabled=name not in configs, width="stretch")
    checkpoint = export.checkpoint_path(reader, run_id)
    c4.download_button("Checkpoint (.pt)", (lambda: export.checkpoint_bytes(reader, run_id)) if checkpoint else b"",
                       export.checkpoint_file_name(run_id), "application/octet-stream", icon=":material/memory:",
                       key="export_checkpoint", disabled=checkpoint is None, width="stretch",
                       help=None if checkpoint else "A run writes its checkpoint when it ends.")
    c5, c6, _, _ = st.columns(4)
    c5.download_button("TensorBoard (zip)", lambda: tensorboard.tensorboard_zip(reader, run_id),
                       tensorboard.tensorboard_zip_name(run_id), "application/zip", icon=":material/monitoring:",
                       key="export_tensorboard", disabled=not tensorboard.AVAILABLE or bool(unreadable), width="stretch",
                       help=unreadable or ("Event files: unzip, then `tensorboard --logdir .`" if tensorboard.AVAILABLE
                                           else "Needs the tensorboard package: `pip install tensorboard`."))
    facts = export.provenance_json(reader, run_id)
    c6.download_button("Provenance (JSON)", facts or b"", export.provenance_file_name(run_id), "application/json",
                       icon=":material/fingerprint:", key="export_provenance", disabled=facts is None, width="stretch",
                       help=None if facts else "Recorded when a run starts training (runs since provenance exists).")
    st.caption("Train the same run again: put both JSON files in one folder and run `python -m lfm train "
               "--hyperparameters hyperparameters.json --training training.json`. The metrics open in pandas or "
               "a spreadsheet; the checkpoint loads with `torch.load(path, weights_only=True)` and on **Explore**; "
               f"the TensorBoard files come from `python -m lfm export {run_id} --tensorboard DIR` too.")
    st.markdown("**Charts as SVG** (for slides and papers; hover a chart for PNG, from Streamlit's chart toolbar)")
    builders = svg_charts(view, smoothing)
    if not SVG_EXPORT_AVAILABLE:
        st.caption("SVG export needs the `vl-convert-python` package: `pip install vl-convert-python`.")
    elif not builders:
        st.caption("Charts appear after the first log step.")
    else:
        items = list(builders.items())
        for start in range(0, len(items), 4):  # rows of four, like the buttons above
            for column, (title, build) in zip(st.columns(4), items[start:start + 4]):
                slug = title.lower().replace(" × ", "-x-").replace(" ", "-")
                column.download_button(title, lambda build=build: svg_bytes(build()), f"{run_id}-{slug}.svg",
                                       "image/svg+xml", icon=":material/image:", key=f"export_svg_{slug}",
                                       width="stretch")


def provenance_section(summary) -> None:
    """What produced the run (lfm.store.provenance): versions, git revision, device, host."""
    facts = provenance.read(summary.path)
    if facts is None:
        st.caption("No provenance recorded: the run has not started training, or predates provenance.json.")
    else:
        st.dataframe(pd.DataFrame(provenance.describe(facts), columns=["what", "recorded"]), hide_index=True)


table = pd.DataFrame([row(r) for r in runs])
if not table["problem"].any():
    table = table.drop(columns="problem")  # a column only when some run is damaged
else:
    st.warning(f"{(table['problem'] != '').sum()} run(s) have a file that cannot be read: see the problem "
               "column. They are listed with what could be read.", icon=":material/broken_image:")
st.dataframe(table, hide_index=True, width="stretch")
labels = {r.run_id: run_label(r) for r in runs}
run_id = st.selectbox("Show run", list(labels), format_func=labels.get, key="runs_page_run")
summary = next(r for r in runs if r.run_id == run_id)
if summary.problem:
    damaged.warn(run_id, summary.problem)
# who may steer it (README "Shared dashboards"): this tab, another tab, or anyone; never another tab's label
st.caption(f":material/person: {steering_note(ownership.steerer(), owner_of(summary.meta))}")
smoothing = st.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="runs_smoothing")
view = RunView(run_id)  # what a run that cannot be read at all shows: no rows
with damaged.guarded(run_id):  # each part of a damaged run that can still be read is shown
    view = run_view(run_id, watcher)
progress(view, summary.settings, view.status.get("state", summary.state))
with st.expander("Provenance: versions, git revision, device, host", icon=":material/fingerprint:"):
    with damaged.guarded(run_id):
        provenance_section(summary)
with st.expander("Export: metrics, settings, checkpoint, TensorBoard, charts as SVG", icon=":material/download:"):
    with damaged.guarded(run_id):
        export_section(reader, summary, view, smoothing)
with damaged.guarded(run_id):
    all_charts(view, smoothing)
st.header("Replay", help="Step through the run's saved gate snapshots, live or finished.")
with damaged.guarded(run_id):
    replay_section(reader, view, smoothing)
watch_for_new_runs(watcher)
