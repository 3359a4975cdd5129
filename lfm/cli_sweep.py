"""`python -m lfm sweep`: a lambda (x balance x seed) grid trained on threads, worker processes or Ray.

It is the same sweep the dashboard's Sweep page launches (the runs share a group id in their
config.json), so a CLI sweep shows up on the Sweep and Compare pages, live.
"""
from __future__ import annotations

import argparse
import signal
import sys
import textwrap
import threading
from contextlib import contextmanager

from lfm.config import ConfigError
from lfm.store.schema import RunState

from .cli import (EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, STOP_SIGNALS, BadInput, build_config,
                  check_device, error, format_duration, settings_help)

DESCRIPTION = """Train a grid of runs: every lambda x balance x seed combination, on the settings of the
files, --data and --set like `train`. --lambdas takes a comma list (0,0.1,0.3) or FROM:TO:N (N values,
evenly spaced; with --log, equal ratios, and 0 plus a ladder each side for a range across 0). Backends:
process (a pool of worker processes, one per core unless --max-concurrent), thread, or ray (a local Ray,
or a cluster with --ray-address / RAY_ADDRESS; the runs folder must be shared storage then). A run whose
worker is lost is retried from the start with --retry N. Ctrl-C stops every run cleanly (saved)."""


def add_parser(commands) -> None:
    from lfm.lab.backends import BACKENDS
    from lfm.lab.sweep import MAX_CLI_SWEEP_RUNS

    sweep = commands.add_parser("sweep", help="train a lambda x balance x seed grid (threads, processes, Ray)",
                                description=textwrap.fill(" ".join(DESCRIPTION.split()), 88),
                                epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("--lambdas", required=True, metavar="LIST|FROM:TO:N", help="the lambda values")
    sweep.add_argument("--log", action="store_true", help="FROM:TO:N with equal ratios instead of equal steps")
    sweep.add_argument("--balance", metavar="LIST", help="balance_coef values, comma-separated")
    sweep.add_argument("--seeds", metavar="LIST", help="seeds, comma-separated (the same at every point)")
    sweep.add_argument("--hyperparameters", metavar="PATH", help="model settings file")
    sweep.add_argument("--training", metavar="PATH", help="training settings file")
    sweep.add_argument("--data", metavar="NAME_OR_CSV", help="as for train")
    sweep.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], help="any other setting")
    sweep.add_argument("--backend", choices=BACKENDS, default="process", help="where runs train (default: process)")
    sweep.add_argument("--max-concurrent", type=int, metavar="N", help="runs at once (default: one per core)")
    sweep.add_argument("--ray-address", metavar="ADDRESS", help="join this Ray cluster (default: RAY_ADDRESS, "
                       "else a local Ray)")
    sweep.add_argument("--retry", type=int, default=0, metavar="N", help="re-run a lost run up to N times")
    sweep.add_argument("--runs-dir", metavar="DIR", default="runs", help="runs folder (default: ./runs)")
    sweep.add_argument("--name", help="a name for the sweep's runs (default: its id)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(func=cmd_sweep, max_runs=MAX_CLI_SWEEP_RUNS)


def lambda_values(text: str, log: bool, max_n: int) -> list[float]:
    """--lambdas: "a,b,c" or "FROM:TO:N"."""
    from lfm.lab.sweep import lambda_grid, parse_values

    if ":" not in text:
        return parse_values("lambda_entropy", text)
    parts = text.split(":")
    if len(parts) != 3:
        raise BadInput(f"--lambdas {text!r}: expected FROM:TO:N, e.g. -0.5:0.5:5, or a comma list")
    try:
        low, high, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise BadInput(f"--lambdas {text!r}: FROM and TO must be numbers and N a whole number") from None
    return lambda_grid(low, high, n, "log" if log else "linear", max_n=max_n)


class SweepProgress:
    """on_change for run_sweep: a bar redrawn in place on a terminal, else one line per ended run."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream, self.tty = total, stream, stream.isatty()
        self.reported: set[int] = set()  # ids of the tasks already printed

    def __call__(self, report, in_flight: int) -> None:
        ended = [t for t in report.tasks if t.outcome is not None]
        bad = sum(t.outcome.status != RunState.FINISHED for t in ended)
        if self.tty:
            filled = int(20 * len(ended) / max(self.total, 1))
            line = (f"\r{report.group} [{'#' * filled}{'-' * (20 - filled)}] {len(ended)}/{self.total} runs, "
                    f"{in_flight} training, {bad} not finished, {format_duration(report.wall_s)}")
            self.stream.write(line)
            if len(ended) == self.total:
                self.stream.write("\n")
        else:
            for task in ended:
                if id(task) not in self.reported:
                    self.reported.add(id(task))
                    self.stream.write(f"{len(self.reported)}/{self.total} {task.label}: {task.outcome.reason}\n")
        self.stream.flush()


@contextmanager
def stop_on_signals(stop: threading.Event):
    """Ctrl-C, SIGTERM and SIGHUP (docker stop, systemd, a cluster's scheduler, a closed terminal) set
    `stop`: the sweep stops every run, saved. A second one raises KeyboardInterrupt to abort at once.
    Only in the main thread, where signals arrive."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_sweep(args: argparse.Namespace) -> int:
    from lfm.lab.backends import make_backend
    from lfm.lab.sweep import SweepSpec, new_group_id, parse_values, plan_sweep
    from lfm.lab.sweep_runner import format_summary, run_sweep, summary_table
    from lfm.store import RunReader

    try:
        base, _ = build_config(args)
        check_device(base.training.device)
        spec = SweepSpec(tuple(lambda_values(args.lambdas, args.log, args.max_runs)),
                         tuple(parse_values("balance_coef", args.balance)) if args.balance else None,
                         tuple(parse_values("seed", args.seeds)) if args.seeds else None,
                         max_runs=args.max_runs)
        if args.max_concurrent is not None and args.max_concurrent < 1:
            raise BadInput(f"--max-concurrent {args.max_concurrent}: allowed integers 1 and up")
        if args.retry < 0:
            raise BadInput(f"--retry {args.retry}: allowed integers 0 and up")
        group = new_group_id()
        planned = plan_sweep(base, spec, group)
        if args.name:
            planned = [p._replace(name=p.name.replace(group, args.name, 1)) for p in planned]
        backend = make_backend(args.backend, args.max_concurrent, ray_address=args.ray_address)
    except (BadInput, ConfigError, ValueError) as exc:
        error(exc)
        return EXIT_BAD_INPUT

    print(f"sweep {group}: {spec.describe()} = {len(planned)} runs on {args.backend} "
          f"({backend.max_concurrent} at a time), runs folder {args.runs_dir}", flush=True)
    progress = None if args.quiet else SweepProgress(len(planned))
    try:
        stop = threading.Event()
        with stop_on_signals(stop):
            report = run_sweep(planned, backend, args.runs_dir, group, retry=args.retry, on_change=progress,
                               stop=stop)
    except KeyboardInterrupt:  # a second Ctrl-C while the runs were being stopped
        error(f"aborted by a second Ctrl-C: runs of {group} still training end without a checkpoint")
        return EXIT_ABORTED
    interrupted = bool(report.cancelled) or any(t.outcome is not None and t.outcome.status == RunState.STOPPED
                                                for t in report.tasks)
    reader = RunReader(args.runs_dir)
    print(format_summary(summary_table(reader, report.run_ids)))
    stored = len(report.run_ids)
    print(f"wall time {format_duration(report.wall_s)}; {stored} run{'s' * (stored != 1)} in the store"
          + (f"; {report.retried} lost run(s) retried" if report.retried else ""))
    if report.cancelled:
        print(f"cancelled before they started: {', '.join(t.label for t in report.cancelled)}")
    not_finished = [t for t in report.failed if t not in report.cancelled]
    if not_finished:
        print(f"not finished: {len(not_finished)} of {len(report.tasks)} runs (each named on stderr)")
        for task in not_finished:
            reason = task.outcome.reason if task.outcome else "no result"
            where = task.run_ids[-1] if task.run_ids else "no folder"
            error(f"{task.label} ({where}): {reason}")
        return EXIT_ABORTED if interrupted else EXIT_FAILED
    return EXIT_ABORTED if interrupted else EXIT_OK

