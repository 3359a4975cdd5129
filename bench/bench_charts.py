"""Benchmark of one live-page refresh: the 7 charts of ui.live.all_charts, built the Altair way and the fast way.

The training thread shares the Streamlit process, so every millisecond of Python a refresh spends holds
the GIL that training needs. Compared side by side, per refresh (all 7 charts), on a synthetic run
(E = 4, 4 regimes, 64 probe samples, 3 λ changes) of 200, 2,000 and 100,000 log rows:
1. altair: the builders' Altair charts converted with to_dict() (what a refresh cost before);
2. fast: charts.live_spec, the same specs from templates built once per chart shape;
3. the same two through Streamlit, in bare mode (no server): st.altair_chart vs ui.live._chart (live_spec,
   Arrow tables, st.vega_lite_chart), which adds Streamlit's own work: Arrow and the spec's JSON.
Also the fast path's first call, which builds the templates (once per chart shape, i.e. per page).

Times are the best (or, with --stat median, the median) of --repeats refreshes after a warm-up: on a
shared 2-core machine the median mostly measures the other processes.
Usage: .venv/bin/python bench/bench_charts.py [--repeats 9] [--stat min|median] [--per-chart]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ui/ runs from the checkout, not installed
from ui import charts  # noqa: E402

E, NUM_REGIMES, NUM_PROBES = 4, 4, 64
REGIMES = [f"regime {k}" for k in range(NUM_REGIMES)]
SMOOTHING = 0.6  # the pages' default


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
    args = parser.parse_args()
    stat = {"min": min, "median": statistics.median}[args.stat]
    import streamlit as st  # bare mode: the elements are built and marshalled, then dropped
    from streamlit.logger import set_log_level

    from ui import live

    st.get_option("logger.level")  # reads the config, which sets the log level; then override it:
    set_log_level("error")  # no "missing ScriptRunContext" warning per element

    ways = {
        "altair": lambda name, a, kw: getattr(charts, name)(*a, **kw).to_dict(),
        "fast": lambda name, a, kw: charts.live_spec(name, *a, **kw),
        "st.altair_chart": lambda name, a, kw: st.altair_chart(getattr(charts, name)(*a, **kw), width="stretch"),
        "live._chart": lambda name, a, kw: live._chart(name, *a, **kw),  # what the live page calls
    }
    print(f"ms per refresh (7 charts), {args.stat} of {args.repeats}; E={E}, {NUM_REGIMES} regimes, "
          f"{NUM_PROBES} probe samples, 3 λ changes")
    print(f"{'log rows':>9} | {'altair':>8} {'fast':>7} {'ratio':>6} | {'st.altair_chart':>15} "
          f"{'live._chart':>11} {'ratio':>6} | {'fast, 1st call':>14}")
    for num_rows in (200, 2_000, 100_000):
        calls = refresh_calls(*synthetic_run(num_rows))

        def refresh(way):
            return lambda: [ways[way](name, a, kw) for name, a, kw in calls]

        charts._template.cache_clear()
        cold = ms_per_call(refresh("fast"), 1, warm_up=False)  # builds every template: one timing
        t = {way: ms_per_call(refresh(way), args.repeats, stat) for way in ways}
        print(f"{num_rows:>9,} | {t['altair']:>8.1f} {t['fast']:>7.1f} {t['altair'] / t['fast']:>5.0f}x | "
              f"{t['st.altair_chart']:>15.1f} {t['live._chart']:>11.1f} "
              f"{t['st.altair_chart'] / t['live._chart']:>5.0f}x | {cold:>14.1f}")
    if args.per_chart:
        print(f"\nper chart at 2,000 rows, ms: {'altair':>8} {'fast':>7} {'live._chart':>11}")
        for name, a, kw in refresh_calls(*synthetic_run(2_000)):
            t = {way: ms_per_call(lambda: ways[way](name, a, kw), args.repeats, stat)
                 for way in ("altair", "fast", "live._chart")}
            print(f"  {name:<26} {t['altair']:>8.1f} {t['fast']:>7.1f} {t['live._chart']:>11.1f}")


if __name__ == "__main__":
    main()
