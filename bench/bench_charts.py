"""Benchmark of the run charts: one live-page refresh (the 7 charts of ui.live.all_charts, built the Altair
way and the fast way), and the data reduction behind them on a long run.

The training thread shares the Streamlit process, so every millisecond of Python a refresh spends holds
the GIL that training needs. Compared side by side, per refresh (all 7 charts), on a synthetic run
(E = 4, 4 regimes, 64 probe samples, 3 λ changes) of 200, 2,000 and 100,000 log rows:
1. altair: the builders' Altair charts converted with to_dict() (what a refresh cost before);
2. fast: run_charts.live_spec, the same specs from templates built once per chart shape;
3. the same two through Streamlit, in bare mode (no server): st.altair_chart vs a tab building its own
   live chart (live_spec, Arrow bytes, st.vega_lite_chart), which adds Streamlit's own work: Arrow and
   the spec's JSON;
4. ui.live._chart, what the live page calls: every tab after the first gets the spec (Arrow bytes and
   all) the first one built for that snapshot (ui.shared_runs), so it pays only st.vega_lite_chart.
   The last column is one refresh of TABS tabs: each building its own charts vs sharing them.
Also the fast path's first call, which builds the templates (once per chart shape, i.e. per page).
With --long, the figures the tests once asserted as wall-clock limits, beside those limits (tests now
check only correctness: a shared machine made the limits flaky): ui.reduce.downsample of 100,000 rows,
every builder's Altair chart on a 100,000-row run with 20,000 probe samples, the quadrant's entropies
(lfm.nn.entropy on the probe batch) and a live redraw of every chart shape at 2,000 rows.

Times are the best (or, with --stat median, the median) of --repeats refreshes after a warm-up: on a
shared 2-core machine the median mostly measures the other processes.
Usage: .venv/bin/python bench/bench_charts.py [--repeats 9] [--stat min|median] [--per-chart] [--long]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ui/ runs from the checkout, not installed
from ui import reduce, run_charts, templates  # noqa: E402

E, NUM_REGIMES, NUM_PROBES = 4, 4, 64
REGIMES = [f"regime {k}" for k in range(NUM_REGIMES)]
SMOOTHING = 0.6  # the pages' default
TABS = 12  # tabs on one run for the last column


def synthetic_run(num_rows, seed=0):
    """A metrics frame shaped like the run store's (val_loss every 20th row), events and a gate snapshot."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, num_rows + 1) * 10
    loss = 1.0 / np.sqrt(np.arange(1, num_rows + 1)) + 0.05 * rng.random(num_rows)
    routing = np.log2(E) * rng.random(num_rows)
    val = np.where(np.arange(num_rows) % 20 == 0, loss + 0.02, np.nan)
    load = rng.dirichlet(np.ones(E), num_rows)  # (N, E)
    df = pd.DataFrame(dict(step=step, epoch=step // 1000, time_s=step * 0.01, samples_per_s=900.0,
                           loss=loss, total_loss=loss + 0.01 * routing, val_loss=val, routing_entropy=routing,
                           load_entropy=routing + 0.1, specialisation=0.1 * rng.random(num_rows),
                           **{f"load_{e}": load[:, e] for e in range(E)}))
    events = [{"step": int(step[int(num_rows * f)]), "kind": "lambda_change", "value": v}
              for f, v in ((0.25, 0.05), (0.5, -0.02), (0.75, 0.1))]
    gates = {"probe_gates": rng.dirichlet(np.full(E, 0.5), NUM_PROBES).tolist(),  # (P, E)
             "regime_matrix": rng.dirichlet(np.ones(E), NUM_REGIMES).T.tolist()}  # (E, K)
    labels = rng.integers(0, NUM_REGIMES, NUM_PROBES).tolist()
    return df, events, gates, labels


def refresh_calls(df, events, gates, labels):
    """(chart name, args, kwargs) of each chart all_charts draws, with the same arguments."""
    load = [float(df[f"load_{e}"].iloc[-1]) for e in range(E)]
    probe = gates["probe_gates"]
    return [("loss_chart", (df,), dict(smoothing=SMOOTHING, events=events)),
            ("entropy_chart", (df, E), dict(smoothing=SMOOTHING, events=events)),
            ("gate_load_heatmap", (df, E), dict(events=events)),
            ("probe_heatmap", (probe, labels, REGIMES), {}),
            ("regime_matrix_chart", (gates["regime_matrix"], REGIMES), {}),
            ("utilisation_chart", (load,), {}),
            ("quadrant_chart", (probe, labels, REGIMES), {})]


def ms_per_call(fn, repeats, stat=min, warm_up=True):
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * stat(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--stat", choices=("min", "median"), default="min")
    parser.add_argument("--per-chart", action="store_true", help="also time each chart at 2,000 rows")
    parser.add_argument("--long", action="store_true", help="also time the data reduction on a long run")
    args = parser.parse_args()
    stat = {"min": min, "median": statistics.median}[args.stat]
    import streamlit as st  # bare mode: the elements are built and marshalled, then dropped
    from streamlit.logger import set_log_level

    from ui import live
    from ui.shared_runs import RunView

    st.get_option("logger.level")  # reads the config, which sets the log level; then override it:
    set_log_level("error")  # no "missing ScriptRunContext" warning per element

    ways = {
        "altair": lambda name, a, kw: run_charts.BUILDERS[name](*a, **kw).to_dict(),
        "fast": lambda name, a, kw: run_charts.live_spec(name, *a, **kw),
        "st.altair_chart": lambda name, a, kw: st.altair_chart(run_charts.BUILDERS[name](*a, **kw), width="stretch"),
        "per tab": lambda name, a, kw: st.vega_lite_chart(own_spec(name, a, kw), width="stretch"),
        "live._chart": lambda name, a, kw: live._chart(view, live.ChartCall(name, name, a, kw)),  # shared
    }

    def own_spec(name, a, kw):
        """The live spec with its data as Arrow bytes, built by this tab for itself."""
        spec = run_charts.live_spec(name, *a, **kw)
        return {**spec, "datasets": {k: live.arrow_bytes(table) for k, table in spec["datasets"].items()}}

    print(f"ms per refresh (7 charts), {args.stat} of {args.repeats}; E={E}, {NUM_REGIMES} regimes, "
          f"{NUM_PROBES} probe samples, 3 λ changes")
    print(f"{'log rows':>9} | {'altair':>8} {'fast':>7} {'ratio':>6} | {'st.altair_chart':>15} "
          f"{'per tab':>8} {'ratio':>6} {'live._chart':>11} | {'fast, 1st call':>14} | "
          f"{TABS} tabs: own / shared")
    for num_rows in (200, 2_000, 100_000):
        calls = refresh_calls(*synthetic_run(num_rows))
        view = RunView("bench", serial=num_rows)  # one snapshot: every tab after the first shares its specs

        def refresh(way):
            return lambda: [ways[way](name, a, kw) for name, a, kw in calls]

        templates.template.cache_clear()
        cold = ms_per_call(refresh("fast"), 1, warm_up=False)  # builds every template: one timing
        t = {way: ms_per_call(refresh(way), args.repeats, stat) for way in ways}
        own, shared = TABS * t["per tab"], t["per tab"] + (TABS - 1) * t["live._chart"]
        print(f"{num_rows:>9,} | {t['altair']:>8.1f} {t['fast']:>7.1f} {t['altair'] / t['fast']:>5.0f}x | "
              f"{t['st.altair_chart']:>15.1f} {t['per tab']:>8.1f} {t['st.altair_chart'] / t['per tab']:>5.0f}x "
              f"{t['live._chart']:>11.1f} | {cold:>14.1f} | {own:>8.0f} / {shared:.0f}")
    if args.per_chart:
        print(f"\nper chart at 2,000 rows, ms: {'altair':>8} {'fast':>7} {'per tab':>8} {'live._chart':>11}")
        view = RunView("bench", serial=-1)
        for name, a, kw in refresh_calls(*synthetic_run(2_000)):
            t = {way: ms_per_call(lambda: ways[way](name, a, kw), args.repeats, stat)
                 for way in ("altair", "fast", "per tab", "live._chart")}
            print(f"  {name:<26} {t['altair']:>8.1f} {t['fast']:>7.1f} {t['per tab']:>8.1f} {t['live._chart']:>11.1f}")
    if args.long:
        long_run(args.repeats, stat)


def long_run(repeats, stat):
    """The figures tests/test_charts.py used to assert, each beside the limit it asserted."""
    df, events, _, _ = synthetic_run(100_000)
    rng = np.random.default_rng(1)
    probe = rng.dirichlet(np.full(E, 0.5), 20_000)  # (P, E): far more probe samples than a chart draws
    probe_labels = rng.integers(0, NUM_REGIMES, len(probe)).tolist()
    load = [float(df[f"load_{e}"].iloc[-1]) for e in range(E)]
    every_builder = [  # each builder, and each option that changes what it computes
        ("loss_chart", (df,), dict(events=events)), ("loss_chart", (df,), dict(smoothing=0.0, log_y=True)),
        ("entropy_chart", (df, E), dict(smoothing=SMOOTHING, events=events)),
        ("gate_load_heatmap", (df, E), dict(events=events)),
        ("probe_heatmap", (probe, probe_labels, REGIMES), {}), ("probe_heatmap", (probe, None, None), {}),
        ("regime_matrix_chart", (np.full((E, NUM_REGIMES), 1 / E), REGIMES), {}),
        ("utilisation_chart", (load,), {}),
        ("quadrant_chart", (probe, probe_labels, REGIMES), {}), ("quadrant_chart", (probe,), {})]
    small, small_labels = probe[:NUM_PROBES], probe_labels[:NUM_PROBES]
    refresh = refresh_calls(*synthetic_run(2_000))
    rows = [  # (what, the old test's limit in ms or None, function, timings)
        (f"downsample, 100,000 rows x {df.shape[1]} columns -> 2,000", 500,
         lambda: reduce.downsample(df, max_points=2_000), repeats),
        ("every builder's Altair chart, 100,000 rows, 20,000 probes", 10_000,
         lambda: [run_charts.BUILDERS[n](*a, **kw).to_dict() for n, a, kw in every_builder], 1),
        (f"quadrant entropies (lfm.nn.entropy), {NUM_PROBES} probe samples", None,
         lambda: run_charts.gate_bits(small), repeats),
        (f"quadrant data step, {NUM_PROBES} probe samples", None,
         lambda: run_charts.quadrant_chart.data_step(small, small_labels, REGIMES), repeats),
        ("live redraw of the 7 charts (live_spec), 2,000 rows", 250,
         lambda: [run_charts.live_spec(n, *a, **kw) for n, a, kw in refresh], repeats),
    ]
    print(f"\nlong run, ms ({'min' if stat is min else 'median'}): {'measured':>10} {'old test limit':>15}")
    for label, limit, fn, times in rows:
        ms = ms_per_call(fn, times, stat, warm_up=times > 1)  # a single timing is a cold one, as the test's was
        print(f"  {label:<58} {ms:>10.2f} {limit or '-':>15}")


if __name__ == "__main__":
    main()
