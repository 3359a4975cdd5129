"""Explore: load a trained model (a run from the store, or an uploaded checkpoint) and see its gate at work.

1. the model: a run with a checkpoint, or an upload (size-limited, read with weights_only=True, checked
   against its own config by lfm.lab.explore); its data set is rebuilt from its config;
2. a few validation samples: each one's gate distribution, chosen expert and prediction against target;
3. two samples A and B: the gate along the blend (1 - t)·A + t·B, and at the slider's t.
"""

import hashlib
import json

import pandas as pd
import streamlit as st
import torch

from lfm.data import DataError
from lfm.lab.explore import (MAX_UPLOAD_MB, CheckpointError, blend, gate_report, interpolate, load_run,
                         load_run_data, load_uploaded_checkpoint)
from ui import explore_charts as charts
from ui import state
from ui.live import list_runs, run_label
from ui.routing import through_router
from ui.text import plain

STORE, UPLOAD = "A run from the store", "Upload a checkpoint"
PATH_POINTS = 41  # t = 0, 0.025, ..., 1 along the interpolation path


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def run_model(runs_dir: str, run_id: str, modified: float):
    """A run's model, shared by every tab; `modified` (the checkpoint's mtime) makes a new file a new entry."""
    return load_run(runs_dir, run_id)


@st.cache_resource(max_entries=4, show_spinner="Rebuilding the data set…")
def run_data(_loaded, key: str):
    """The run's data set, rebuilt from its config; key (the config and feature count) names the entry."""
    return load_run_data(_loaded)


def uploaded_model(upload):
    """The upload's LoadedRun, or its error message; checked once per uploaded file, not on every rerun."""
    cached = st.session_state.get("_explore_upload")
    if cached is None or cached[0] != upload.file_id:
        try:
            result = load_uploaded_checkpoint(upload.getvalue(), upload.name)
        except CheckpointError as exc:
            result = str(exc)
        st.session_state["_explore_upload"] = (upload.file_id, result)
    return st.session_state["_explore_upload"][1]


def data_scope(data) -> str:
    """A short name of the data set, put in the keys of the widgets whose options and ranges depend on it:
    a widget keeping its key from one data set to another would keep a value (or label) of the other."""
    identity = repr((data.name, tuple(data.x_val.shape), data.regime_names))
    return hashlib.sha1(identity.encode()).hexdigest()[:8]


def sample_name(index: int, data) -> str:
    if data.labels_val is None:
        return f"#{index}"
    return f"#{index} {data.regime_names[int(data.labels_val[index])]}"


def regime_windows(data, regime: int) -> torch.Tensor:
    """Validation indices of one regime's windows, in order."""
    return torch.nonzero(data.labels_val == regime).flatten()


def regimes_present(data) -> list[int]:
    """Regimes with at least one validation window (a rare weather may have none in the held-out part)."""
    return [k for k in range(len(data.regime_names)) if len(regime_windows(data, k))]


def pick_one(data, label: str, key: str, last: bool = False) -> int:
    """A validation window chosen by regime (the first, or with `last` the last one, to begin with) and
    number within the regime; by index for data without labels."""
    if data.labels_val is None:
        last_index = len(data.x_val) - 1
        return int(st.number_input(f"{label}: window (0 to {last_index})", 0, last_index, last_index if last else 0,
                                   key=f"{key}_index"))
    names, present = data.regime_names, regimes_present(data)
    regime = st.selectbox(f"{label}: regime", present, index=len(present) - 1 if last else 0,
                          format_func=names.__getitem__, key=f"{key}_regime")
    windows = regime_windows(data, regime)
    number = st.number_input(f"{label}: window number within {names[regime]} (0 to {len(windows) - 1})",
                             0, len(windows) - 1, 0, key=f"{key}_number_{names[regime]}")
    return int(windows[number])


def pick_feature(data, where, key: str) -> int:
    """Which feature the line charts show, for data with several (e.g. Seattle weather has 4)."""
    if data.num_features == 1:
        return 0
    return where.selectbox("Feature", range(data.num_features), format_func=lambda f: f"feature {f}", key=key)


through_router()  # a direct link on a fresh server: see ui/routing.py
st.title("Explore a trained model")
st.caption("Feed a trained model inputs of your choice and look inside its gate: which expert each input goes "
           "to, how sure the gate is, how good the prediction is, and how the choice changes as one input "
           "turns into another.")

# 1. The model: a run from the store (any run that wrote a checkpoint), or an uploaded checkpoint file.
source = st.radio("Model", [STORE, UPLOAD], horizontal=True, key="explore_source", label_visibility="collapsed")
if source == STORE:
    runs = [r for r in list_runs(state.reader(), state.watcher()) if (r.path / "checkpoint.pt").is_file()]
    if not runs:
        st.info("No run with a checkpoint yet: a run writes one when it ends. Train one on **Train & watch** "
                "(or with `python -m lfm train`), or upload a checkpoint.")
        st.stop()
    labels = {r.run_id: run_label(r) for r in runs}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="explore_run")
    checkpoint = next(r.path for r in runs if r.run_id == run_id) / "checkpoint.pt"
    try:
        loaded = run_model(str(state.runs_dir()), run_id, checkpoint.stat().st_mtime)
    except (CheckpointError, OSError) as exc:
        st.error(f"Cannot load this run's model: {plain(exc)}")
        st.stop()
else:
    upload = st.file_uploader(f"A checkpoint.pt saved by a run (at most {MAX_UPLOAD_MB} MB)", type=["pt", "pth"],
                              max_upload_size=MAX_UPLOAD_MB, key="explore_upload")
    st.caption("Read with `torch.load(weights_only=True)`: only tensors and plain data are loaded, never code. "
               "The file is then checked against the settings saved inside it. Get one from **Runs → Export**.")
    if upload is None:
        st.stop()
    loaded = uploaded_model(upload)
    if isinstance(loaded, str):
        st.error(f"This file cannot be used: {plain(loaded)}")  # it names the upload
        st.stop()

m, tr = loaded.config.model, loaded.config.training
key = json.dumps([loaded.config.to_dict(), loaded.input_features], sort_keys=True)
try:
    data = run_data(loaded, key)
except (DataError, CheckpointError) as exc:
    st.error(f"The model loaded, but its data set cannot be rebuilt here: {plain(exc)}")
    st.stop()
st.markdown(f"**{plain(loaded.source)}** · trained {loaded.step:,} steps · λ = {m.lambda_entropy:g} · balance = "
            f"{m.balance_coef:g} · {m.num_experts} experts · data: {data.name}, {len(data.x_val):,} validation "
            f"windows of {tr.sequence_length} steps")
st.caption("The data set is rebuilt from the run's own settings (same seed, so the same windows); the samples "
           "below are validation windows, which the model never trained on.")

# 2. A few samples: their gates side by side, and one sample's prediction against its target.
st.header("Samples and their gates")
has_regimes = data.labels_val is not None
modes = (["One of each regime", "By regime and number"] if has_regimes else ["By index"]) + ["Random"]
scope = data_scope(data)
mode = st.radio("Pick samples", modes, horizontal=True, key=f"explore_mode_{scope}")
if mode == "One of each regime":
    present = regimes_present(data)
    last = min(len(regime_windows(data, k)) for k in present) - 1
    number = st.number_input(f"Window number within each regime (0 to {last})", 0, last, 0,
                             key=f"explore_each_{scope}")
    indices = [int(regime_windows(data, k)[number]) for k in present]
    absent = [data.regime_names[k] for k in range(len(data.regime_names)) if k not in present]
    if absent:
        st.caption(f"No validation window of {', '.join(absent)}: the held-out part of the data has none.")
elif mode == "Random":
    left, right = st.columns([3, 1])
    most = min(8, len(data.x_val))  # a slider needs min < max: a tiny validation set shows all it has
    count = left.slider("How many", 1, most, min(4, most), key=f"explore_count_{scope}") if most > 1 else 1
    if right.button("Draw again", icon=":material/casino:"):
        st.session_state["explore_draw"] = st.session_state.get("explore_draw", 0) + 1
    generator = torch.Generator().manual_seed(st.session_state.get("explore_draw", 0))
    indices = sorted(torch.randperm(len(data.x_val), generator=generator)[:count].tolist())
else:
    indices = [pick_one(data, "Sample", f"explore_one_{scope}")]

names = [sample_name(i, data) for i in indices]
x, y = data.x_val[indices], data.y_val[indices]  # (N, S, F) each
report = gate_report(loaded.model, x)
st.altair_chart(charts.gate_bars(report.gate_probs, names), width="stretch")
st.caption(charts.EXPLANATIONS["gate_bars"])
squared_error = (report.prediction - y) ** 2  # (N, S, F)
st.dataframe(pd.DataFrame({
    "sample": names,
    "chosen expert": [f"expert {e}" for e in report.chosen_expert.tolist()],
    "its probability": report.gate_probs.max(dim=-1).values.numpy(),
    "gate entropy (bits)": report.entropy.numpy(),
    "MSE, all steps": squared_error.mean(dim=(1, 2)).numpy(),
    "MSE, forecast step": squared_error[:, -1].mean(dim=-1).numpy(),
}), hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="%.3f")
    for c in ("its probability", "gate entropy (bits)", "MSE, all steps", "MSE, forecast step")})
left, right = st.columns(2)
shown = names.index(left.selectbox("Prediction for", names, key=f"explore_shown_{scope}")) if len(names) > 1 else 0
feature = pick_feature(data, right, f"explore_feature_{scope}")
st.subheader(f"Prediction against target: {names[shown]}")
st.altair_chart(charts.prediction_chart(x[shown], y[shown], report.prediction[shown], feature), width="stretch")
st.caption(charts.EXPLANATIONS["prediction_chart"])

# 3. From sample A to sample B: the gate along the blend, and at the slider's t.
st.header("From one input to another")
st.caption("Pick two samples, ideally of two regimes the gate sends to different experts, and move t.")
col_a, col_b = st.columns(2)
with col_a:
    index_a = pick_one(data, "A", f"explore_a_{scope}")
with col_b:
    index_b = pick_one(data, "B", f"explore_b_{scope}", last=True)
x_a, x_b = data.x_val[index_a], data.x_val[index_b]  # (S, F) each
t = st.slider("t: 0 = sample A, 1 = sample B", 0.0, 1.0, 0.5, 0.05, key="explore_t")
path = interpolate(loaded.model, x_a, x_b, steps=PATH_POINTS)
at_t = gate_report(loaded.model, blend(x_a, x_b, t)[None])  # (1, S, F)
left, right = st.columns([3, 2])
with left:
    st.subheader("The gate along the way")
    st.altair_chart(charts.interpolation_chart(path.t, path.gate_probs, path.entropy, current_t=t), width="stretch")
    st.caption(charts.EXPLANATIONS["interpolation_chart"])
with right:
    chosen = int(at_t.chosen_expert[0])
    st.subheader(f"At t = {t:.2f}: expert {chosen}")
    st.altair_chart(charts.gate_bars(at_t.gate_probs, [f"blend at t = {t:.2f}"], height=260), width="stretch")
    st.caption(f"Gate entropy {float(at_t.entropy[0]):.2f} bits; expert {chosen} gets "
               f"{float(at_t.gate_probs[0, chosen]):.0%} of the weight.")
    st.altair_chart(charts.blend_chart(x_a, x_b, t, feature), width="stretch")
    st.caption(charts.EXPLANATIONS["blend_chart"])
