"""Sweep λ: train one run per λ of a grid (times balance values, times seeds) in one click, and watch the
trade-off appear as they finish.

1. the base settings are the sidebar's (presets and shared links apply); the grid is chosen here and
   checked by lfm.lab.sweep, which names the input at fault; the planned runs are listed before launch;
2. Launch queues every run through the dashboard's JobManager, like Start on Train & watch: the same
   queue and the same cap on runs training at once;
3. any sweep in the store (the newest by default) is followed live: its progress, the summary chart
   (λ against validation loss and the gate's entropies, one dot per finished run) and its table.
"""

import streamlit as st

from lfm.config import ConfigError, field_by_name
from lfm.store.results import results_table
from lfm.lab.sweep import (MAX_SWEEP_RUNS, SCALES, SweepSpec, lambda_grid, parse_values, plan_sweep,
                       submit_sweep, sweep_groups, sweep_progress)
from ui import damaged, lab_charts, ownership, state
from ui.groups import group_progress, launch_group, pick_group
from ui.live import list_runs, watch_for_new_runs
from ui.settings import render_settings, where_runs_train
from ui.routing import through_router
from ui.text import plain

LATEST = "(the newest sweep)"
SHOWN = "sweep_show"  # session key of the sweep picker
REFRESH_S = 1.5

through_router()  # a direct link on a fresh server: see ui/routing.py
st.title("Sweep λ")
st.caption("Train the same model once per λ (lambda_entropy) of a grid, and see in one picture what λ buys "
           "and costs. The other settings come from the sidebar; each run is an ordinary run in the store, "
           "so it also shows on **Runs** and **Compare**.")
settings = render_settings()
ownership.teacher_unlock()
manager, reader, watcher = state.manager(), state.reader(), state.watcher()

# 1. The grid, checked as it is typed.
st.subheader("The grid")
c1, c2, c3, c4 = st.columns(4)
low = c1.number_input("λ from", value=-0.5, step=0.05, format="%.3g", key="sweep_low",
                      help="The smallest λ of the grid. λ > 0 sharpens each sample's gate, λ < 0 spreads it.")
high = c2.number_input("λ to", value=0.5, step=0.05, format="%.3g", key="sweep_high",
                       help="The largest λ of the grid (included).")
n = c3.number_input("Number of λ values", value=5, step=1, key="sweep_n",
                    help=f"Points of the grid, ends included (1 to {MAX_SWEEP_RUNS}).")
scale = c4.segmented_control("Spacing", SCALES, default="linear", key="sweep_scale",
                             help="linear: equal steps. log: equal ratios, for λ over several decades; "
                                  "across 0 it is 0 plus a ladder on each side, from a tenth of the "
                                  "smaller end outwards (e.g. -0.5 to 0.5 with 5 values: -0.5, -0.05, 0, "
                                  "0.05, 0.5).")
c5, c6, c7 = st.columns([2, 2, 2])
base_balance = settings.config.model.balance_coef if settings.config else field_by_name("balance_coef").default
balances_text = c5.text_input("balance_coef values (optional second axis)", key="sweep_balances",
                              placeholder=f"the sidebar's: {base_balance:g}",
                              help="Comma-separated, e.g. 0, 0.5: every λ is trained with each. Empty: the "
                                   "sidebar's balance_coef only.")
seeds_text = c6.text_input("Seeds", value="0, 1", key="sweep_seeds",
                           help="Comma-separated; every grid point is trained once per seed, with the same "
                                "seeds everywhere, so the spread between seeds shows what is luck.")
keep_alive = c7.checkbox("Keep training when every tab is closed", key="sweep_keep_alive")

errors, spec, planned = [], None, []
if settings.config is None:
    errors.append("Fix the settings marked in the sidebar: they are the base of every run of the sweep.")
try:
    lambdas = lambda_grid(low, high, n, scale or "linear")
    balances = parse_values("balance_coef", balances_text) if balances_text.strip() else None
    seeds = parse_values("seed", seeds_text) if seeds_text.strip() else None
    spec = SweepSpec(tuple(lambdas), balances and tuple(balances), seeds and tuple(seeds))
    if settings.config is not None:
        planned = plan_sweep(settings.config, spec, group="sweep-····")  # the id is drawn at launch
except ConfigError as e:
    errors.append(str(e))

if spec is not None:
    st.markdown(f"**{spec.describe()} = {spec.num_runs} run{'s' * (spec.num_runs != 1)}** · λ = "
                + ", ".join(f"{v:g}" for v in spec.lambdas))
if planned:
    with st.expander(f"The {len(planned)} planned runs"):
        st.dataframe([{"name": p.name, "λ": p.lambda_entropy, "balance_coef": p.balance_coef, "seed": p.seed}
                      for p in planned], hide_index=True, width="stretch")
for message in errors:
    st.error(plain(message))  # they quote what was typed

b1, b2 = st.columns([1, 4])
if b1.button("Launch", icon=":material/rocket_launch:", type="primary", disabled=bool(errors) or not planned,
             width="stretch"):
    launch_group(lambda: submit_sweep(manager, settings.config, spec, keep_alive=keep_alive,
                                      backend=settings.backend, owner=ownership.owner_id()),
                 SHOWN, "Sweep", spec.num_runs, "Not launched")
b2.caption(f"Runs wait in the dashboard's queue: at most {manager.max_concurrent} train at once, "
           f"single runs and sweeps alike; {where_runs_train(settings.backend)}. Bigger sweeps, or a cluster: `python -m lfm sweep` (README, 'More than one machine').")

# 2. The sweep shown: the newest, or a chosen one; sweeps are groups in the run store, so they survive a restart.
st.subheader("Progress and results")
runs = list_runs(reader, watcher)
groups = sweep_groups(runs, manager)
if not groups:
    st.info("No sweeps yet: choose a grid above and press **Launch**.")
    watch_for_new_runs(watcher)
    st.stop()
group = pick_group(groups, "Sweep", key=SHOWN, latest=LATEST)
live = sweep_progress(reader, manager, group, runs).active


@st.fragment(run_every=REFRESH_S if live else None)
def sweep_view():
    progress = sweep_progress(reader, manager, group, list_runs(reader, watcher))
    group_progress(progress, manager, "sweep", key="sweep_stop")

    damaged.warn_damaged(r for r in list_runs(reader, watcher) if r.run_id in progress.run_ids)
    table = results_table(reader, progress.run_ids).sort_values(["lambda_entropy", "balance_coef", "seed"],
                                                                  kind="stable")
    st.altair_chart(lab_charts.sweep_summary_chart(table), width="content")
    st.caption(lab_charts.LAB_EXPLANATIONS["sweep_summary_chart"])
    st.dataframe(table, hide_index=True, width="stretch", column_config=lab_charts.results_column_config())
    st.download_button("Download the table (CSV)", table.to_csv(index=False), f"lfm-{group}.csv", "text/csv",
                       icon=":material/download:", key="sweep_csv")
    if live and not progress.active:
        st.rerun()  # the sweep ended: redraw the page once, so the refresh turns off


sweep_view()
if not live:
    watch_for_new_runs(watcher)
