"""Benchmark: the same sweep on the thread, process and ray backends, side by side in one run.

Printed per backend: the sweep's wall time (from the first submit to the last run's end, the backend's
start-up included: a process pool spawning its workers, a local Ray starting), the sum of the runs' own
training times, and the mean samples/s per run (from each run's metrics.csv). Then a model of how a
sweep's wall time scales with workers on a cluster: with t_run the measured time of one run alone on
one core and o the measured overhead of one Ray task round trip, W workers finish N runs in about
ceil(N / W) * t_run + N * o / W; the model is printed for N = 64 runs and W = 1 ... 64. It is a model
from two measured numbers, not a cluster measurement (this machine has 2 cores).

Usage: .venv/bin/python bench/bench_backends.py [--runs 8] [--backends thread,process,ray]
           [--workers N] [--set name=value ...]
Measure on a quiet machine: `uptime` load under 1.5.
"""

import argparse
import math
import os
import tempfile
import time

from lfm.config import RunConfig
from lfm.lab.backends import make_backend
from lfm.lab.sweep import SweepSpec, lambda_grid, plan_sweep
from lfm.lab.sweep_runner import run_sweep
from lfm.store import RunReader


def sweep_once(backend_name: str, planned, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as runs_dir:
        start = time.perf_counter()
        backend = make_backend(backend_name, workers)
        report = run_sweep(planned, backend, runs_dir, "sweep-bench")
        wall = time.perf_counter() - start
        reader = RunReader(runs_dir)
        train_s, rates = 0.0, []
        for run_id in report.run_ids:
            metrics = reader.read_metrics(run_id)
            train_s += float(metrics["time_s"].iloc[-1])
            rates.append(float(metrics["samples_per_s"].mean()))
        states = sorted({t.outcome.status for t in report.tasks})
    return {"wall_s": wall, "train_s": train_s, "samples_per_s": sum(rates) / len(rates), "states": states}


def ray_task_overhead(samples: int = 200) -> float:
    """Seconds per round trip of an empty Ray task on a local Ray (submit, schedule, run, get)."""
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        empty = ray.remote(lambda: None)
        ray.get([empty.remote() for _ in range(20)])  # workers started
        start = time.perf_counter()
        ray.get([empty.remote() for _ in range(samples)])
        return (time.perf_counter() - start) / samples * (os.cpu_count() or 1)  # per task, per worker slot
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--backends", default="thread,process,ray")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()

    base = RunConfig().with_overrides(dict(item.split("=", 1) for item in args.set))
    planned = plan_sweep(base, SweepSpec(tuple(lambda_grid(-0.5, 0.5, args.runs))), "sweep-bench")
    print(f"{args.runs} runs of the default config (+ {args.set or 'no changes'}), {args.workers} at a time, "
          f"{os.cpu_count()} cores")
    print(f"{'backend':<9}{'wall s':>9}{'train s (sum)':>15}{'samples/s per run':>19}  states")
    for name in args.backends.split(","):
        r = sweep_once(name, planned, args.workers)
        print(f"{name:<9}{r['wall_s']:>9.1f}{r['train_s']:>15.1f}{r['samples_per_s']:>19.0f}  {','.join(r['states'])}")

    single = sweep_once("process", planned[:1], 1)
    t_run = single["train_s"]
    overhead = ray_task_overhead()
    print(f"\none run alone on one core: {t_run:.2f} s of training; Ray task overhead: {overhead * 1e3:.2f} ms")
    print("model for 64 runs (not measured on a cluster): workers -> wall s, speed-up")
    base_wall = None
    for workers in (1, 2, 4, 8, 16, 32, 64):
        wall = math.ceil(64 / workers) * t_run + 64 * overhead / workers
        base_wall = base_wall or wall
        print(f"  {workers:>3} -> {wall:8.1f} s  {base_wall / wall:5.1f}x")


if __name__ == "__main__":
    main()
