"""Compare: pick runs from the store and see side by side what their λ did to loss, gates and experts.

1. filters in the sidebar (data set, status, λ range, sweep) narrow the store; the multiselect picks
   the runs (by default the newest sweep, or else the newest few finished runs);
2. their loss and entropy curves overlaid, one line per run coloured by λ; or, with "Group seeds", one
   line per setting (runs that differ only in their seed, lfm.store.seeds): the mean over its seeds in a
   band from the lowest seed to the highest;
3. their final numbers (lfm.store.results) as a sortable table and a CSV download;
4. their expert × regime matrices side by side, ordered by λ (grouped: each setting's mean matrix).
Redrawn every few seconds while any run shown is still training.
"""

import numpy as np
import pandas as pd
import streamlit as st

from lfm.store.results import curves, results_table
from lfm.store import RunReader
from lfm.store.damage import RunDamaged
from lfm.store.files import UnsafeFile
from lfm.lab.sweep import sweep_groups
from lfm.store.seeds import group_labels, seed_groups
from lfm.store.schema import BITS_METRICS, LIVE_STATES, Metric, RunState
from ui import damaged, lab_charts, state
from ui.live import list_runs, watch_for_new_runs
from ui.routing import through_router

SELECTION = "compare_runs"  # session key of the run multiselect
LATEST_FINISHED = 5  # default selection without a sweep: this many newest finished runs
LOSS_METRICS = (Metric.VAL_LOSS, Metric.LOSS, Metric.TOTAL_LOSS)  # validation first: the one to compare
REFRESH_S = 2.0
ANY, NO_GROUP = "(any run)", "(runs outside a sweep)"

through_router()  # a direct link on a fresh server: see ui/routing.py
st.title("Compare runs")
st.caption("Overlay any runs of the run store, dashboard, CLI or sweep, and see what λ changed: each run is "
           "one line coloured by its λ (lambda_entropy), with its final numbers and its experts' "
           "specialisation side by side.")
reader, watcher, manager = state.reader(), state.watcher(), state.manager()
runs = list_runs(reader, watcher)
if not runs:
    st.info("No runs yet: start one on **Train & watch**, launch a sweep on **Sweep λ**, or run "
            "`python -m lfm train` in a terminal.")
    watch_for_new_runs(watcher)
    st.stop()


def setting(summary, name: str, default=None):
    """A run's recorded setting (RunSummary.settings), or default where its record has no usable value."""
    value = summary.settings[name]
    return default if value is None else value


def fresh_selection():
    """on_change of every filter: the selection goes back to its default for the new filter."""
    st.session_state.pop(SELECTION, None)


# 1. Filters and the selection.
lambdas = [float(setting(r, "lambda_entropy", 0.0)) for r in runs]
with st.sidebar:
    st.header("Filter runs")
    datasets = sorted({str(setting(r, "dataset", "?")) for r in runs})
    want_data = st.multiselect("Data set", datasets, key="compare_datasets", placeholder="all data sets",
                               on_change=fresh_selection)
    all_states = sorted({r.state for r in runs})
    want_states = st.multiselect("Status", all_states, key="compare_states", placeholder="any status",
                                 on_change=fresh_selection)
    low, high = min(lambdas), max(lambdas)
    if low < high:
        low, high = st.slider("λ range", low, high, (low, high), key="compare_lambdas",
                              on_change=fresh_selection, help="Only runs whose λ (lambda_entropy) lies in it.")
    groups = [g.group for g in sweep_groups(runs)]
    want_group = st.selectbox("Sweep", [ANY, NO_GROUP, *groups], key="compare_group", on_change=fresh_selection,
                              help="Runs launched together on **Sweep λ** share a sweep id.")


def passes(summary, lam: float) -> bool:
    group = summary.meta.get("group")
    return ((not want_data or setting(summary, "dataset") in want_data)
            and (not want_states or summary.state in want_states)
            and low - 1e-12 <= lam <= high + 1e-12
            and (want_group == ANY or (want_group == NO_GROUP and not group) or group == want_group))


shown = [r for r, lam in zip(runs, lambdas) if passes(r, lam)]
if not shown:
    st.info("No run matches the filters in the sidebar: widen them to see runs.")
    st.stop()


def default_selection(candidates) -> list[str]:
    """The newest sweep's runs; without one, the newest few finished runs (or the newest few of any)."""
    newest = next(iter(sweep_groups(candidates)), None)
    if newest is not None:
        return [r.run_id for r in candidates if r.meta.get("group") == newest.group]
    finished = [r for r in candidates if r.state == RunState.FINISHED] or candidates
    return [r.run_id for r in finished[:LATEST_FINISHED]]


by_id = {r.run_id: r for r in shown}


def short_label(run_id: str) -> str:
    """'name · state', with λ added unless the name says it already (a sweep's runs do); marked first if
    the run is damaged (ui.damaged.picker_label, as every run picker)."""
    r = by_id[run_id]
    name = r.name or run_id
    lam = "" if "λ=" in name else f" · λ={setting(r, 'lambda_entropy', '?')}"
    return damaged.picker_label(r, f"{name}{lam} · {r.state}")


selected = st.multiselect(f"Runs to compare ({len(shown)} match the filters)", list(by_id),
                          default=default_selection(shown), format_func=short_label, key=SELECTION,
                          placeholder="pick runs to compare")
if not selected:
    st.info("Pick one or more runs above to compare them.")
    st.stop()

c1, c2, c3, c4 = st.columns([2, 2, 3, 2])
loss_metric = c1.selectbox("Loss", LOSS_METRICS, format_func=lab_charts.METRIC_LABELS.get, key="compare_loss")
bits_metric = c2.selectbox("Entropy", BITS_METRICS, format_func=lab_charts.METRIC_LABELS.get, key="compare_bits")
smoothing = c3.slider("Smoothing (debiased EMA, as TensorBoard)", 0.0, 0.99, 0.6, 0.01, key="compare_smoothing")
grouped = c4.toggle("Group seeds: mean ± band", key="compare_group_seeds",
                    help="Runs with the same settings apart from the seed become one line: their mean, step by "
                         "step, in a band from the lowest to the highest seed. Shows what is the settings' doing "
                         "and what is luck.")


def order_key(run_id: str) -> tuple:
    """(λ, balance, seed): the order of the table, the matrices and the settings."""
    r = by_id[run_id]
    return float(setting(r, "lambda_entropy", 0.0)), float(setting(r, "balance_coef", 0.0)), setting(r, "seed", 0)


# the selected runs by setting: runs that differ only in their seed (and device) share one
settings_of_runs = seed_groups(by_id[run_id] for run_id in sorted(selected, key=order_key))
setting_labels = group_labels(settings_of_runs)
setting_of = {run_id: label for group, label in zip(settings_of_runs, setting_labels) for run_id in group.run_ids}


@st.cache_data(max_entries=16, show_spinner=False)
def load_curves(runs_dir: str, run_ids: tuple, labels: tuple, stamps: tuple) -> pd.DataFrame:
    """lfm.store.results.curves, read again only when a metrics file changed (stamps: their sizes and times)."""
    return curves(RunReader(runs_dir), run_ids, dict(zip(run_ids, labels)))


def stamp(run_id: str) -> tuple:
    try:
        info = (reader.path(run_id) / "metrics.csv").stat()
        return info.st_size, info.st_mtime_ns
    except OSError:
        return 0, 0


def matrices(run_ids):
    """(matrices, lambdas, labels, regime names) of the runs whose last gate snapshot has a matrix,
    in order of λ, then balance, then seed; grouped: one mean matrix per setting, labelled with it."""
    found, lams, labels, names = [], [], [], None
    for run_id in sorted(run_ids, key=order_key):
        if by_id[run_id].problem:
            continue  # named above the table
        try:
            snapshot = next(iter(reader.read_gates(run_id, last_only=True)), {})
            regimes = (reader.info(run_id) or {}).get("regime_names") if snapshot.get("regime_matrix") else None
        except (RunDamaged, UnsafeFile):  # damaged since it was listed: left out, as from the table
            continue
        if snapshot.get("regime_matrix"):
            lam, balance, seed = order_key(run_id)
            found.append(snapshot["regime_matrix"])
            lams.append(lam)
            labels.append(setting_of[run_id] if grouped else f"λ={lam:g} · b={balance:g} · seed {seed}")
            names = names or regimes
    if grouped:  # one mean matrix per setting; each of its columns still sums to 1, as every run's do
        by_label = {}
        for matrix, lam, label in zip(found, lams, labels):
            by_label.setdefault(label, (lam, []))[1].append(matrix)
        found = [np.mean(group, axis=0).tolist() for _, group in by_label.values()]
        lams = [lam for lam, _ in by_label.values()]
        labels = [f"{label} · {len(group)} seed{'s' * (len(group) != 1)}" for label, (_, group) in by_label.items()]
    return found, lams, labels, names


def _seed_list(seeds) -> str:
    """'seeds 0, 1' or 'seed 3': which seeds a setting's line averages."""
    return f"seed{'s' * (len(seeds) != 1)} " + ", ".join(map(str, seeds))


live = any(by_id[run_id].state in LIVE_STATES for run_id in selected) or any(
    job.run_id in selected for job in manager.active())


# 2.-4. Drawn again every REFRESH_S while a selected run trains, once otherwise.
@st.fragment(run_every=REFRESH_S if live else None)
def comparison():
    labels = tuple(by_id[run_id].name or run_id for run_id in selected)
    table_of_curves = load_curves(str(reader.runs_dir), tuple(selected), labels,
                                  tuple(stamp(run_id) for run_id in selected))
    if grouped:
        table_of_curves = table_of_curves.assign(setting=table_of_curves["run_id"].map(setting_of))
    chart = lab_charts.compare_seeds_chart if grouped else lab_charts.compare_curves_chart
    left, right = st.columns(2)
    with left:
        st.subheader(lab_charts.METRIC_LABELS[loss_metric].capitalize())
        st.altair_chart(chart(table_of_curves, loss_metric, smoothing), width="stretch")
    with right:
        st.subheader(lab_charts.METRIC_LABELS[bits_metric].capitalize())
        st.altair_chart(chart(table_of_curves, bits_metric, smoothing), width="stretch")
    st.caption(lab_charts.LAB_EXPLANATIONS[chart.__name__])
    if grouped:
        st.caption(f"{len(selected)} runs in {len(settings_of_runs)} setting{'s' * (len(settings_of_runs) != 1)}: "
                   + "; ".join(f"{label} ({_seed_list(group.seeds)})"
                               for group, label in zip(settings_of_runs, setting_labels)))

    st.subheader("Final numbers")
    damaged.warn_damaged(by_id[run_id] for run_id in selected)
    table = results_table(reader, selected).sort_values(["lambda_entropy", "balance_coef", "seed"], kind="stable")
    st.dataframe(table, hide_index=True, width="stretch", column_config=lab_charts.results_column_config())
    st.download_button("Download the table (CSV)", table.to_csv(index=False), "lfm-compare.csv", "text/csv",
                       icon=":material/download:", key="compare_csv")
    st.caption("Click a column's header to sort by it. Running runs show their latest numbers; "
               "dead experts get under 10% of the equal share 1/E of the gate's load.")

    st.subheader("Expert × regime, ordered by λ")
    found, lams, panel_labels, names = matrices(selected)
    if found:
        st.altair_chart(lab_charts.matrix_small_multiples(found, lams, names, labels=panel_labels), width="content")
        st.caption(lab_charts.LAB_EXPLANATIONS["matrix_small_multiples"])
    else:
        st.caption("None of these runs has an expert × regime matrix: their data set has no regime labels "
                   "(random noise or a CSV without a label column), or they have not logged yet.")
    still_live = any(s in LIVE_STATES for s in table["state"]) or any(
        job.run_id in selected for job in manager.active())
    if live and not still_live:
        st.rerun()  # the last selected run ended: redraw once so the refresh turns off


comparison()
if not live:
    watch_for_new_runs(watcher)
