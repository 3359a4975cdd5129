"""Running a planned sweep to its end on a backend: feed the backend, retry lost runs, stop on Ctrl-C.

The backend's engine (a thread pool, a process pool, Ray) decides where each run trains; this loop only
keeps at most `backend.max_concurrent` runs in flight, collects their outcomes, re-submits a run whose
worker was lost (up to `retry` times, from the start, with the same settings and seed), and on Ctrl-C
sends "stop" to every run in flight through its control file, so each ends "stopped" with its
checkpoint, and records the runs that never started as cancelled in the run store (as the dashboard's
job queue does, lfm.store.writer.record_cancelled), so the Sweep and Runs pages and `lfm runs` know of
them too.

Every run carries meta {"group": <sweep id>, "task": <token>} in its config.json, so the sweep finds
the folder of a run whose worker died before it could say which folder it wrote.
"""
from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from lfm.store import RunReader
from lfm.store.control import ControlError, send_command
from lfm.store.files import HOSTNAME
from lfm.store.results import results_table
from lfm.store.schema import Metric, RunState
from lfm.store.writer import record_cancelled

from .sweep import PlannedRun
from .worker import RunOutcome, RunSpec

SUMMARY_METRICS = (Metric.VAL_LOSS, Metric.ROUTING_ENTROPY, Metric.LOAD_ENTROPY, Metric.MI_REGIME)
FINISHED = str(RunState.FINISHED)  # summary_table's column: how many runs of a grid point finished
CANCELLED_REASON = "the sweep was interrupted before it started"


@dataclass
class SweepTask:
    planned: PlannedRun
    token: str                              # meta["task"] of its run folder(s)
    attempts: int = 0                       # submissions so far
    outcome: RunOutcome | None = None       # the final outcome (after any retries)
    run_ids: list[str] = field(default_factory=list)  # every folder it wrote, the last one counts

    @property
    def label(self) -> str:
        return self.planned.name


@dataclass
class SweepReport:
    group: str
    tasks: list[SweepTask]
    cancelled: list[SweepTask] = field(default_factory=list)  # never started: Ctrl-C came first (recorded)
    retried: int = 0
    wall_s: float = 0.0

    @property
    def run_ids(self) -> list[str]:
        return [t.run_ids[-1] for t in self.tasks if t.run_ids]

    @property
    def failed(self) -> list[SweepTask]:
        """Runs that did not finish: failed, diverged, lost (interrupted) or stopped."""
        return [t for t in self.tasks if t.outcome is None or t.outcome.status != RunState.FINISHED]


def run_sweep(planned: Sequence[PlannedRun], backend, runs_dir: str | Path, group: str, *, retry: int = 0,
              on_change: Callable[[SweepReport, int], None] | None = None, poll_s: float = 0.2,
              stop: threading.Event | None = None) -> SweepReport:
    """Train every planned run on backend; returns the report (the backend is closed at the end).

    on_change(report, in_flight) is called whenever a run starts or ends (a progress bar). Setting
    `stop` (e.g. from a signal handler) stops the sweep like a KeyboardInterrupt does, but only between
    two polls: an exception raised at an arbitrary point could leave the backend's queues locked."""
    stop = stop or threading.Event()
    runs_dir = Path(runs_dir).resolve()  # workers elsewhere must find the same folder
    reader = RunReader(runs_dir)
    tasks = [SweepTask(p, secrets.token_hex(6)) for p in planned]
    report = SweepReport(group, tasks)
    waiting = deque(tasks)
    in_flight: dict[int, SweepTask] = {}
    start = time.perf_counter()

    def changed():
        report.wall_s = time.perf_counter() - start
        if on_change is not None:
            on_change(report, len(in_flight))

    try:
        try:
            while (waiting or in_flight) and not stop.is_set():
                while waiting and len(in_flight) < backend.max_concurrent:
                    task = waiting.popleft()
                    task.attempts += 1
                    in_flight[backend.submit(_spec(task, runs_dir, group))] = task
                    changed()
                for ticket, task in list(in_flight.items()):
                    outcome = backend.poll(ticket)
                    if outcome is None:
                        continue
                    del in_flight[ticket]
                    _note_folder(task, outcome, reader)
                    if outcome.status == RunState.INTERRUPTED and task.attempts <= retry:
                        report.retried += 1
                        waiting.appendleft(task)  # again from the start, same seed
                    else:
                        task.outcome = outcome
                    changed()
                stop.wait(poll_s)
        except KeyboardInterrupt:
            stop.set()
        if stop.is_set():
            report.cancelled = list(waiting)
            waiting.clear()
            for task in report.cancelled:  # first: quick, and then kept even if a second Ctrl-C cuts the wait
                _record_cancelled(task, runs_dir, group)
            _stop_and_wait(in_flight, backend, reader)  # a second Ctrl-C leaves this wait: runs end unsaved
            changed()
    finally:
        backend.close()
    report.wall_s = time.perf_counter() - start
    return report


def _meta(task: SweepTask, group: str) -> dict:
    """meta of the task's run folders: the Sweep page groups by "group", the sweep finds them by "task"."""
    return {"group": group, "task": task.token}


def _spec(task: SweepTask, runs_dir: Path, group: str) -> RunSpec:
    return RunSpec(task.planned.config.to_dict(), str(runs_dir), task.planned.name, _meta(task, group))


def _record_cancelled(task: SweepTask, runs_dir: Path, group: str) -> None:
    """End a task that never started as "cancelled", recorded in the run store with its settings and its
    sweep's group, as lfm.lab.jobs.JobManager records a queued job taken off its queue."""
    reason = CANCELLED_REASON
    run_id = None
    try:
        run_id = record_cancelled(runs_dir, task.planned.config.to_dict(), reason, name=task.planned.name,
                                  meta=_meta(task, group))
        task.run_ids.append(run_id)
    except OSError as exc:  # e.g. the runs folder is gone: the task still ends, and says why
        reason = f"{reason} (not recorded: {exc})"
    task.outcome = RunOutcome(run_id, RunState.CANCELLED, reason, 0, os.getpid(), HOSTNAME)


def _note_folder(task: SweepTask, outcome: RunOutcome, reader: RunReader) -> None:
    run_id = outcome.run_id or _find_run(reader, task.token, exclude=task.run_ids)
    if run_id is not None and run_id not in task.run_ids:
        task.run_ids.append(run_id)


def _find_run(reader: RunReader, token: str, exclude: list[str]) -> str | None:
    """The newest folder a task wrote that it has not reported yet (its worker died before it could)."""
    for summary in reader.list_runs():  # newest first
        if summary.meta.get("task") == token and summary.run_id not in exclude:
            return summary.run_id
    return None


def _stop_and_wait(in_flight: dict[int, SweepTask], backend, reader: RunReader) -> None:
    """Send "stop" to each run in flight as soon as its folder exists, and wait until all have ended."""
    stopped: set[str] = set()
    while in_flight:
        for ticket, task in list(in_flight.items()):
            run_id = _find_run(reader, task.token, exclude=[])
            if run_id is not None and run_id not in stopped:
                try:
                    send_command(reader.runs_dir, run_id, "stop", source="the sweep's Ctrl-C")
                except ControlError:
                    pass
                stopped.add(run_id)
            outcome = backend.poll(ticket)
            if outcome is not None:
                del in_flight[ticket]
                _note_folder(task, outcome, reader)
                task.outcome = outcome
        time.sleep(0.2)


# ---- the summary --------------------------------------------------------------------------------------

def summary_table(reader: RunReader, run_ids: Sequence[str]) -> pd.DataFrame:
    """One row per grid point (lambda, balance): runs, finished, and mean and sd over seeds of each
    SUMMARY_METRICS (sd is NaN for a single seed)."""
    table = results_table(reader, run_ids)
    if table.empty:
        return pd.DataFrame(columns=["lambda_entropy", "balance_coef", "runs", FINISHED])
    finished = table[table["state"] == RunState.FINISHED]
    points = table.groupby(["lambda_entropy", "balance_coef"], sort=True)
    out = points.size().rename("runs").to_frame()
    out[FINISHED] = finished.groupby(["lambda_entropy", "balance_coef"]).size()
    out[FINISHED] = out[FINISHED].fillna(0).astype(int)
    stats = finished.groupby(["lambda_entropy", "balance_coef"])[list(SUMMARY_METRICS)].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return out.join(stats).reset_index()


def format_summary(table: pd.DataFrame) -> str:
    """The summary as aligned text: 'mean ± sd' per metric (bits for the entropies)."""
    headers = ["lambda", "balance", "runs", *SUMMARY_METRICS]
    rows = [headers]
    for _, row in table.iterrows():
        cells = [f"{row['lambda_entropy']:g}", f"{row['balance_coef']:g}", f"{int(row[FINISHED])}/{int(row['runs'])}"]
        for metric in SUMMARY_METRICS:
            mean, sd = row.get(f"{metric}_mean", math.nan), row.get(f"{metric}_std", math.nan)
            if mean is None or pd.isna(mean):
                cells.append("-")
            else:
                cells.append(f"{mean:.4g}" + ("" if pd.isna(sd) else f" ± {sd:.2g}"))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)
