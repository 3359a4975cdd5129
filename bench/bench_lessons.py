"""Benchmark of the lesson set the Lessons page launches (nothing here is asserted by tests).

A cold process (as a freshly started dashboard: torch imported, no run trained yet) makes a JobManager with
the dashboard's default cap (one run per CPU core) on a fresh run store, and submits every lesson whose
preset is in assets/presets.json through lfm.lab.lessons.submit_lessons, at the default settings. Printed:
the wall time from "Run the lessons" to the last verdict (the issue's target: < 2 min on 2 cores), each
run's own time, and per lesson its final numbers and whether its rule held. The load average is printed
before and after: training threads share the cores with anything else running.

Usage: .venv/bin/python bench/bench_lessons.py [--seeds 1] [--max-concurrent N] [--set name=value ...]
"""

import argparse
import os
import tempfile
import time

from lfm.config import RunConfig, load_presets
from lfm.lab.jobs import JobManager
from lfm.lab.lessons import LESSONS, available_lessons, judge, lesson_runs, submit_lessons
from lfm.lab.sweep import sweep_progress
from lfm.store import RunReader
from lfm.store.results import results_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per lesson (1 to 3)")
    parser.add_argument("--max-concurrent", type=int, default=None, help="default: one per CPU core, as the dashboard")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a setting")
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    base = RunConfig().with_overrides(dict(item.split("=", 1) for item in args.set))
    presets = load_presets()
    ready, missing = available_lessons(presets)
    for lesson in missing:
        print(f"skipped: {lesson.name} (preset {lesson.preset!r} not in assets/presets.json)")
    with tempfile.TemporaryDirectory() as runs_dir:
        manager = JobManager(runs_dir, max_concurrent=args.max_concurrent)
        reader = RunReader(runs_dir)
        start = time.perf_counter()
        group = submit_lessons(manager, base, presets, args.seeds)
        for job in manager.jobs():
            manager.wait(job)
        wall = time.perf_counter() - start
        progress = sweep_progress(reader, manager, group)
        table = results_table(reader, progress.run_ids).set_index("run_id", drop=False)
        by_lesson = lesson_runs(reader.list_runs(), group)
        print(f"\n{len(progress.run_ids)} runs ({len(ready)} lessons x {args.seeds} seed(s)), "
              f"{manager.max_concurrent} at a time: {wall:.1f} s wall, "
              f"{table['train_time_s'].sum():.1f} s of training summed")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        print("| lesson | runs' train time (s) | val loss | routing H | load H | I(expert; regime) | rule | held |")
        print("|---|---|---|---|---|---|---|---|")
        for lesson in LESSONS:
            ids = [s.run_id for s in by_lesson.get(lesson.key, [])]
            if not ids:
                continue
            rows = table.loc[ids]
            verdict = judge(lesson, rows[rows["state"] == "finished"].to_dict("records"))
            f = verdict.finals
            print(f"| {lesson.name} | {', '.join(f'{t:.1f}' for t in rows['train_time_s'])} | "
                  f"{rows['val_loss'].mean():.4f} | {f['routing_entropy']:.3f} | {f['load_entropy']:.3f} | "
                  f"{f['mi_regime']:.3f} | {lesson.rule.text()} | "
                  f"{'yes' if verdict.holds else 'no'} ({verdict.seeds_held} of {verdict.seeds_judged}) |")
        manager.close()


if __name__ == "__main__":
    main()
