"""Train & watch: pick settings, start a run in the background, and watch its gates and entropies live."""

import streamlit as st

from lfm.config import ConfigError, check_value
from lfm.data import DataError
from lfm.datasets import DATASETS
from lfm.store.damage import RunDamaged
from lfm.store.files import UnsafeFile
from lfm.store.schema import LIVE_STATES, Metric, RunState
from lfm.lab.controls import RunControls
from lfm.lab.ownership import owner_of
from ui import damaged, ownership, state
from ui.live import all_charts, forget_run_list, list_runs, progress, run_label, run_view, watch_for_new_runs
from ui.shared_runs import RunView
from ui.settings import render_settings
from ui.routing import through_router
from ui.text import plain

FOLLOW = "Follow the newest run"

through_router()  # a direct link on a fresh server: see ui/routing.py
st.title("Train & watch")
st.caption(
    "Set the hyperparameters on the left (or pick a classroom preset), press **Start**, and watch what the "
    "entropy term does to the experts' gate while the model learns."
)
settings = render_settings()
ownership.teacher_unlock()  # before the controls below are enabled or not
manager, reader, watcher = state.manager(), state.reader(), state.watcher()

# 1. Start a run: the settings were validated by the form; data problems are reported here.
left, mid, right = st.columns([1, 2, 2])
keep_alive = right.checkbox("Keep training when every tab is closed", key="keep_alive")
if left.button("Start", icon=":material/play_arrow:", type="primary", disabled=settings.config is None, width="stretch"):
    try:
        job = manager.submit(settings.config, name=settings.name or None, keep_alive=keep_alive,
                             backend=settings.backend, owner=ownership.owner_id())
        st.session_state["watch"] = FOLLOW
        forget_run_list()  # its folder exists now: list it at once rather than at the watcher's next event
    except (DataError, ValueError) as exc:
        st.error(f"Not started: {plain(exc)}")
if settings.config is None:
    mid.warning("Fix the settings marked in the sidebar to start a run.")

# 2. Which run to watch: the newest (default, so a run started anywhere shows up), or a chosen one.
runs = list_runs(reader, watcher)
labels = {r.run_id: run_label(r) for r in runs}
choice = st.selectbox("Watching", [FOLLOW, *labels], key="watch", format_func=lambda k: labels.get(k, k))
queued = [j for j in manager.active() if j.state == RunState.QUEUED]
if queued:
    st.info(f"{len(queued)} run(s) queued: at most {manager.max_concurrent} train at once (one per CPU core).")
run_id = (runs[0].run_id if runs else None) if choice == FOLLOW else choice
if run_id is None:
    st.info("No runs yet. Press **Start** to train one, or run `python -m lfm train` in a terminal.")
    watch_for_new_runs(watcher)
    st.stop()

# 3. Controls for any live run: this dashboard's own in memory, any other (CLI, worker, another
#    dashboard) through its run folder's control.jsonl; enabled for whoever may steer it
#    (lfm/lab/ownership.py: the tab that started it, or an unlocked teacher), shown to everyone.
job = manager.by_run_id(run_id)
summary = next((r for r in runs if r.run_id == run_id), None)
if summary is None:
    st.warning(f"Run {run_id} is no longer in the run store.")
    st.stop()
if summary.problem:
    damaged.warn(run_id, summary.problem)
try:
    status = reader.status(run_id)
except (RunDamaged, UnsafeFile):  # said above: steer it by what its job (if any) knows
    status = {"state": summary.state}
controls = RunControls(reader.runs_dir, run_id, status, job=job, manager=manager,
                       owner=owner_of(summary.meta), steerer=ownership.steerer())
job_state, permission = controls.state, controls.permission
if controls.active and not controls.in_memory:
    st.caption("This run trains outside this dashboard's threads (a CLI, a worker process, Ray or "
               "another dashboard): its controls act through its run folder, at its next log step.")
if controls.active and not permission.allowed:
    st.caption(f":material/lock: {permission.reason}")
# an ended run, or one this tab only watches, keeps its controls in place, greyed out (the page does not jump)
off = not controls.active or not permission.allowed

c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 2, 1])
paused = job_state == RunState.PAUSED
if c1.button("Resume" if paused else "Pause", icon=":material/play_arrow:" if paused else ":material/pause:",
             disabled=off, width="stretch"):
    if ownership.steer(controls.resume if paused else controls.pause):
        st.rerun()
if c2.button("Step", icon=":material/skip_next:", help="Train one log interval, then pause", disabled=off,
             width="stretch"):
    ownership.steer(controls.step)
if c3.button("Stop", icon=":material/stop:", disabled=off, width="stretch"):
    if ownership.steer(controls.stop):
        st.rerun()
started_with = summary.settings["lambda_entropy"] or 0.0
if summary.settings["lambda_schedule"] in (None, "constant"):
    current = (summary.last_metrics or {}).get(Metric.LAMBDA_ENTROPY)  # after changes
else:  # metrics hold λ x the schedule's factor; this sets the base: the setting, or its latest change
    try:
        changes = [e["value"] for e in reader.read_events(run_id) if e.get("kind") == "lambda_change"]
    except (RunDamaged, UnsafeFile):  # said above: the setting it started with is all we know
        changes = []
    current = changes[-1] if changes else None
current = started_with if current is None else current
new_lambda = c4.number_input("λ while training", value=float(current), step=0.05, disabled=off,
                             format="%.3f", key=f"live_lambda_{run_id}",
                             help="Changes lambda_entropy from the next step on, without a restart; "
                                  "the charts mark the change. With a lambda schedule this is the base "
                                  "lambda the schedule scales.")
if c5.button("Apply λ", disabled=off, width="stretch"):
    try:  # the setting's own check: the same range and message as the form, the files and the CLI
        if ownership.steer(controls.set_lambda, check_value("lambda_entropy", new_lambda)):
            st.toast(f"lambda → {new_lambda:g} from the next step")
    except ConfigError as e:
        st.error(e.message)

data = DATASETS.get(summary.settings["dataset"])
if data is not None and not data.learnable:
    st.info(data.note)  # e.g. the seed's dummy data: a flat loss here is the right answer, not a bug
s1, s2 = st.columns(2)
smoothing = s1.slider("Smoothing (debiased EMA, as TensorBoard)", 0.0, 0.99, 0.6, 0.01, key="smoothing")
refresh_s = s2.slider("Refresh every (s)", 0.5, 10.0, 1.0, 0.5, key="refresh_s")

# 4. The live part: redrawn every refresh_s while the run is live, drawn once otherwise.
live = job_state in LIVE_STATES


@st.fragment(run_every=refresh_s if live else None)
def live_view():
    view = RunView(run_id)  # what a run that cannot be read at all shows: no rows
    with damaged.guarded(run_id):
        view = run_view(run_id, watcher)
    now = manager.by_run_id(run_id)
    current = now.state if now else RunControls(reader.runs_dir, run_id, view.status).state
    progress(view, summary.settings, current)
    all_charts(view, smoothing, live=current in LIVE_STATES)
    if live and current not in LIVE_STATES:
        st.rerun()  # the run ended: redraw the page once so controls and refresh turn off
    if choice == FOLLOW and watcher.folder_version != st.session_state.setdefault("_seen_folder_version", -1):
        st.session_state["_seen_folder_version"] = watcher.folder_version
        if list_runs(reader, watcher)[0].run_id != run_id:
            st.rerun()  # a newer run appeared (this tab, another tab or the CLI): follow it


live_view()
if not live:
    watch_for_new_runs(watcher)
