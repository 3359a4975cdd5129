"""Runs: every run in the store (started here, from the CLI, or earlier), with its charts and files."""

import pandas as pd
import streamlit as st

from ui import state
from ui.live import all_charts, list_runs, progress, run_label, run_view, watch_for_new_runs

st.title("Runs")
st.caption("Every run in the run store, newest first: dashboard runs, CLI runs and earlier sessions alike.")
reader, watcher = state.reader(), state.watcher()
runs = list_runs(reader, watcher)
if not runs:
    st.info("No runs yet: start one on **Train & watch** or with `python -m lfm train`.")
    watch_for_new_runs(watcher)
    st.stop()


def row(r) -> dict:
    hp, tr, last = r.config.get("hyperparameters", {}), r.config.get("training", {}), r.last_metrics or {}
    return {
        "run": r.run_id, "name": r.name or "", "state": r.state, "dataset": tr.get("dataset"),
        "lambda": hp.get("lambda_entropy"), "balance": hp.get("balance_coef"), "experts": hp.get("num_experts"),
        "step": last.get("step"), "loss": last.get("loss"), "val loss": last.get("val_loss"),
        "routing H (bits)": last.get("routing_entropy"), "load H (bits)": last.get("load_entropy"),
        "created": r.created,
    }  # fmt: skip


st.dataframe(pd.DataFrame([row(r) for r in runs]), hide_index=True, width="stretch")
labels = {r.run_id: run_label(r) for r in runs}
run_id = st.selectbox("Show run", list(labels), format_func=labels.get, key="runs_page_run")
summary = next(r for r in runs if r.run_id == run_id)
smoothing = st.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="runs_smoothing")
view = run_view(run_id)
view.refresh(reader, watcher)
progress(view, summary.config, view.status.get("state", summary.state))
all_charts(view, smoothing)
watch_for_new_runs(watcher)
