"""Benchmark of a λ sweep launched the way the Sweep λ page launches it (nothing here is asserted by tests).

A sweep of 5 λ × 2 seeds on the default config (default data, 10 epochs) goes through lfm.lab.sweep.submit_sweep
and a JobManager with the dashboard's default cap (one run per CPU core), into a fresh run store. Printed:
the wall time from submit to the last run's end (the issue asks for < 90 s on a 2-core CPU), each run's
own time, and the trade-off table, per λ the mean over seeds of the final validation loss, routing
entropy, specialisation and I(expert; regime).

Usage: .venv/bin/python bench/bench_sweep.py [--low -0.5 --high 0.5 --n 5 --scale linear --seeds 0,1]
           [--max-concurrent N] [--set name=value ...]
Measure on a quiet machine: `uptime` load under 1.5 (training threads share the cores with anything else).
"""

import argparse
import os
import tempfile
import time

import torch

from lfm.config import RunConfig
from lfm.lab.jobs import JobManager
from lfm.store.results import results_table
from lfm.store import RunReader
from lfm.lab.sweep import SweepSpec, lambda_grid, parse_values, submit_sweep, sweep_progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low", type=float, default=-0.5)
    parser.add_argument("--high", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--scale", default="linear", choices=("linear", "log"))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-concurrent", type=int, default=None, help="default: one per CPU core, as the dashboard")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a setting")
    args = parser.parse_args()

    base = RunConfig().with_overrides(dict(item.split("=", 1) for item in args.set))
    spec = SweepSpec(tuple(lambda_grid(args.low, args.high, args.n, args.scale)),
                     seeds=tuple(parse_values("seed", args.seeds)))
    print(f"sweep: {spec.describe()} = {spec.num_runs} runs · λ = {', '.join(f'{v:g}' for v in spec.lambdas)}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min), torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as runs_dir:
        manager = JobManager(runs_dir, max_concurrent=args.max_concurrent, orphan_grace_s=1e9)
        manager.attach("bench")
        print(f"cap: {manager.max_concurrent} runs at once")
        start = time.perf_counter()
        group = submit_sweep(manager, base, spec)
        submitted = time.perf_counter() - start
        for job in manager.jobs():
            manager.wait(job)
        wall = time.perf_counter() - start
        manager.close()

        reader = RunReader(runs_dir)
        progress = sweep_progress(reader, None, group)
        table = results_table(reader, progress.run_ids).sort_values(["seed", "lambda_entropy"])
        print(f"\nwall time {wall:.1f} s (submitting, i.e. preparing data and models: {submitted:.1f} s); "
              f"{progress.finished} of {progress.total} runs finished")
        print(f"\n{'run':<36} {'state':<9} {'steps':>6} {'train s':>8}")
        for row in table.itertuples():
            print(f"{row.name:<36} {row.state:<9} {row.steps:>6} {row.train_time_s:>8.1f}")
        print(f"sum of the runs' own training times: {table['train_time_s'].sum():.1f} s")

        means = (table.groupby("lambda_entropy")[["val_loss", "routing_entropy", "specialisation", "mi_regime"]]
                 .mean().reset_index())
        print(f"\n{'λ':>8} {'val loss':>9} {'routing H':>10} {'specialis.':>11} {'I(exp;reg)':>11}   (bits; "
              f"mean of {len(spec.seeds)} seeds)")
        for row in means.itertuples():
            print(f"{row.lambda_entropy:>8g} {row.val_loss:>9.4f} {row.routing_entropy:>10.3f} "
                  f"{row.specialisation:>11.3f} {row.mi_regime:>11.3f}")


if __name__ == "__main__":
    main()
