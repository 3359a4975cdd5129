"""Lambda sweeps: a grid of lambda_entropy values (times balance_coef values, times seeds), launched as
ordinary runs through the job queue, and followed as one group.

A sweep is nothing but runs sharing a group id (run folders keep it in config.json as meta["group"]),
so a sweep survives a restart of the dashboard, its runs show up everywhere single runs do, and they
wait in the same queue under the same concurrency cap (lfm.lab.jobs.JobManager). The steps:
  1. lambda_grid(low, high, n, scale) makes the lambda values (rules in its docstring);
  2. SweepSpec holds the axes: lambdas, balances, seeds; the product is capped at MAX_SWEEP_RUNS runs;
  3. plan_sweep(base, spec) -> one PlannedRun (name and validated RunConfig) per grid point;
  4. submit_sweep(manager, base, spec) queues them all under a fresh group id;
  5. sweep_progress(reader, manager, group) counts them by state; sweep_groups lists the sweeps.
Every invalid input raises ConfigError (a ValueError) naming the input and what is allowed.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from lfm.config import ConfigError, RunConfig, check_value, field_by_name, parse_value
from lfm.store.schema import RunState

MAX_SWEEP_RUNS = 60   # runs in one dashboard sweep (and so λ values in a grid): what its thread queue can live with
MAX_CLI_SWEEP_RUNS = 10_000  # `lfm sweep` on worker processes or Ray: a cluster's job, still a bound on typos
SCALES = ("linear", "log")
SIGNIFICANT_DIGITS = 3  # grid values are rounded to this, so run names and configs hold the same λ
GROUP_PREFIX = "sweep-"


def _nice(value: float) -> float:
    """value rounded to SIGNIFICANT_DIGITS significant digits; -0.0 becomes 0.0."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") + 0.0


def _check_lambda(name: str, value) -> float:
    """A grid end as lambda_entropy's own check sees it, the message naming the sweep input."""
    try:
        return check_value("lambda_entropy", value)
    except ConfigError:
        allowed = field_by_name("lambda_entropy").allowed
        raise ConfigError(f"{name} = {value!r} is not a valid λ: allowed {allowed} "
                          "(the range of lambda_entropy)", name) from None


def _geometric(smallest: float, largest: float, count: int) -> list[float]:
    """count magnitudes from smallest to largest, equal ratios between neighbours; one -> [largest]."""
    if count == 1:
        return [largest]
    return list(np.geomspace(smallest, largest, count))


def lambda_grid(low: float, high: float, n: int, scale: str = "linear",
                min_magnitude: float | None = None, max_n: int = MAX_SWEEP_RUNS) -> list[float]:
    """n lambda values from low to high (both included), ascending, rounded to 3 significant digits.

    linear: equal steps, e.g. (-0.5, 0.5, 5) -> -0.5, -0.25, 0, 0.25, 0.5.
    log:    equal *ratios*, which is what a weight that acts over decades needs:
      * a one-signed range (0 < low < high, or low < high < 0): geometric from low to high,
        e.g. (0.01, 1, 3) -> 0.01, 0.1, 1;
      * a range that spans 0 (low < 0 < high): 0 itself, plus a geometric ladder on each side from
        min_magnitude out to that side's end. The n - 1 non-zero points are shared evenly between
        the sides (an odd one goes to the side with the larger end; to λ > 0 on a tie). min_magnitude, the smallest
        |λ| besides 0, is by default a tenth of the smaller end's magnitude, so the ladder spans at
        least a decade: (-0.5, 0.5, 5) -> -0.5, -0.05, 0, 0.05, 0.5 (min_magnitude 0.05);
        (-0.5, 0.5, 7) -> -0.5, -0.158, -0.05, 0, 0.05, 0.158, 0.5;
      * a range with 0 at one end (0 = low < high, or low < high = 0): 0 plus a ladder of n - 1 on
        the other side, e.g. (0, 1, 4) -> 0, 0.1, 0.316, 1.
    low == high gives the single value [low] and needs n = 1.
    Raises ConfigError naming the input at fault (lambda_low, lambda_high, n, scale, min_magnitude).
    """
    low, high = _check_lambda("lambda_low", low), _check_lambda("lambda_high", high)
    if scale not in SCALES:
        raise ConfigError(f"scale = {scale!r} is not a grid scale: allowed {' or '.join(map(repr, SCALES))}",
                          "scale")
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not float(n).is_integer() \
            or not 1 <= n <= max_n:
        raise ConfigError(f"n = {n!r} is not a number of λ values: allowed integers 1 to {max_n}", "n")
    n = int(n)
    if low > high:
        raise ConfigError(f"lambda_low = {low:g} is above lambda_high = {high:g}: allowed lambda_low <= "
                          "lambda_high", "lambda_low")
    if low == high:
        if n != 1:
            raise ConfigError(f"n = {n} values between lambda_low = lambda_high = {low:g}: allowed n = 1 "
                              "when the ends are equal (or widen the range)", "n")
        return [_nice(low)]
    if n == 1:
        raise ConfigError(f"n = 1 cannot reach both ends {low:g} and {high:g}: allowed n >= 2 for a range "
                          "(or set lambda_low = lambda_high)", "n")

    if scale == "linear":
        values = list(np.linspace(low, high, n))
    elif low > 0 or high < 0:  # one sign: a plain geometric ladder
        sign = 1.0 if low > 0 else -1.0
        values = [sign * m for m in _geometric(abs(low), abs(high), n)]
        values.sort()
    else:  # 0 inside the range or at one end: 0, plus a ladder on each side that has room
        sides = [end for end in (low, high) if end != 0]  # the nonzero ends
        if len(sides) == 2 and n < 3:
            raise ConfigError(f"n = {n} is too few for a log grid across 0 ({low:g} to {high:g}): allowed "
                              "n >= 3 (0 and at least one value on each side), or a linear grid", "n")
        smallest_end = min(abs(end) for end in sides)
        if min_magnitude is None:
            min_magnitude = smallest_end / 10
        elif not (isinstance(min_magnitude, (int, float)) and 0 < min_magnitude < smallest_end):
            raise ConfigError(f"min_magnitude = {min_magnitude!r} must lie between 0 and the smaller end's "
                              f"magnitude {smallest_end:g}: allowed 0 < min_magnitude < {smallest_end:g}",
                              "min_magnitude")
        # share the n - 1 nonzero points; the odd one to the side with the larger end (λ > 0 on a tie)
        counts = {end: (n - 1) // len(sides) for end in sides}
        if (n - 1) % len(sides):
            counts[max(sides, key=lambda end: (abs(end), end))] += 1
        values = [0.0]
        for end, count in counts.items():
            values += [math.copysign(m, end) for m in _geometric(min_magnitude, abs(end), count)]
        values.sort()
    grid = [_nice(v) for v in values]
    if len(set(grid)) < len(grid):
        raise ConfigError(f"n = {n} values between {low:g} and {high:g} repeat once rounded to "
                          f"{SIGNIFICANT_DIGITS} significant digits: allowed fewer values or a wider range", "n")
    return grid


def parse_values(setting: str, text: str) -> list:
    """A comma-separated list of one setting's values ("0, 0.5") -> typed, checked, distinct values.

    Each value is checked by lfm.config, so a bad one gets the setting's own message and range."""
    parts = [part.strip() for part in str(text).split(",")]
    if not any(parts):
        raise ConfigError(f"{setting}: no values given: allowed a comma-separated list, e.g. "
                          f"{field_by_name(setting).default}", setting)
    if "" in parts:
        raise ConfigError(f"{setting} = {text!r} has an empty item: allowed a comma-separated list of "
                          f"{field_by_name(setting).allowed}", setting)
    try:
        values = [parse_value(setting, part) for part in parts]
    except ConfigError as e:  # a list typed in a form, not a file: no source to name
        raise ConfigError(e.message, setting) from None
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{setting} lists {', '.join(map(str, repeated))} more than once: allowed "
                          "distinct values", setting)
    return values


@dataclass(frozen=True)
class SweepSpec:
    """The axes of a sweep; every combination becomes one run. None means 'the base config's value'."""
    lambdas: tuple[float, ...]                 # lambda_entropy values, e.g. lambda_grid(-0.5, 0.5, 5)
    balances: tuple[float, ...] | None = None  # balance_coef values: the optional second axis
    seeds: tuple[int, ...] | None = None       # seeds; the same ones at every grid point
    max_runs: int = MAX_SWEEP_RUNS             # the cap on the product (MAX_CLI_SWEEP_RUNS off the dashboard)

    def __post_init__(self):
        for axis, setting in (("lambdas", "lambda_entropy"), ("balances", "balance_coef"), ("seeds", "seed")):
            values = getattr(self, axis)
            if values is None:
                continue
            values = tuple(check_value(setting, v, source=axis) for v in values)  # typed: seed 1.0 -> 1
            if not values:
                raise ConfigError(f"{axis}: no values given: allowed one or more {setting} values", axis)
            if len(set(values)) < len(values):
                raise ConfigError(f"{axis} = {list(values)} repeats a value: allowed distinct values", axis)
            object.__setattr__(self, axis, values)
        if self.num_runs > self.max_runs:
            raise ConfigError(f"{self.describe()} = {self.num_runs} runs is more than a sweep may have: "
                              f"allowed at most {self.max_runs} runs; use fewer values", "lambdas")

    @property
    def num_runs(self) -> int:
        return len(self.lambdas) * len(self.balances or (None,)) * len(self.seeds or (None,))

    def describe(self) -> str:
        """'5 λ × 2 balances × 2 seeds': the size of each axis."""
        def count(values, word, plural):
            k = len(values or (None,))
            return f"{k} {word if k == 1 else plural}"
        return " × ".join([count(self.lambdas, "λ", "λ"), count(self.balances, "balance", "balances"),
                           count(self.seeds, "seed", "seeds")])


class PlannedRun(NamedTuple):
    name: str            # e.g. "sweep-3f2a λ=0.3 b=0.5 seed=1"
    config: RunConfig    # the base config with this point's lambda, balance and seed
    lambda_entropy: float
    balance_coef: float
    seed: int


def new_group_id() -> str:
    """A fresh sweep id, e.g. "sweep-3f2a": short enough to read in a run name."""
    return GROUP_PREFIX + secrets.token_hex(3)  # 16.7 million ids: two sweeps never share one in practice


def plan_sweep(base: RunConfig, spec: SweepSpec, group: str | None = None) -> list[PlannedRun]:
    """One PlannedRun per (seed, balance, lambda), seeds outermost and lambda innermost.

    That order, with runs started oldest first, puts a first point at every lambda before any second
    seed: the live summary chart sketches the whole trade-off early, and later seeds add the spread."""
    group = group or new_group_id()
    planned = []
    for seed in spec.seeds or (base.training.seed,):
        for balance in spec.balances or (base.model.balance_coef,):
            for lam in spec.lambdas:
                config = base.with_overrides({"lambda_entropy": lam, "balance_coef": balance, "seed": seed})
                planned.append(PlannedRun(f"{group} λ={lam:g} b={balance:g} seed={seed}", config, lam,
                                          balance, seed))
    return planned


def submit_sweep(manager, base: RunConfig, spec: SweepSpec, *, keep_alive: bool = False,
                 backend: str = "thread", owner: str | None = None) -> str:
    """Queue every run of the sweep with manager (a lfm.lab.jobs.JobManager); returns the group id.

    The runs go through manager.submit like single runs: the same FIFO queue and concurrency cap, and
    keep_alive as there (True: they keep training when every browser tab is closed), and the backend the
    runs train on (thread, process or ray: lfm/lab/backends.py), and owner (the browser session that
    launched it: only it stops the sweep, lfm/lab/ownership.py).
    Every run is prepared (data loaded, model built) as it is submitted; if one is refused, the ones
    already queued are taken off again and the error is raised, so a sweep starts whole or not at all."""
    group = new_group_id()
    jobs = []
    try:
        for run in plan_sweep(base, spec, group):
            jobs.append(manager.submit(run.config, name=run.name, group=group, keep_alive=keep_alive,
                                       backend=backend, owner=owner))
    except BaseException:
        for job in jobs:
            manager.withdraw(job)  # no "cancelled" records: these runs were never the user's
        raise
    return group


@dataclass
class SweepProgress:
    """How far one sweep has got: its runs counted by state."""
    group: str
    total: int = 0                # runs known: queued in this process, plus every run in the store
    finished: int = 0
    running: int = 0              # running or paused
    queued: int = 0               # waiting for a free slot (known only to the process that queued them)
    ended_badly: int = 0          # stopped, diverged, failed, cancelled or interrupted
    run_ids: list[str] = field(default_factory=list)  # runs in the store, oldest first

    @property
    def done(self) -> int:
        return self.finished + self.ended_badly

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def active(self) -> bool:
        return self.running + self.queued > 0


def sweep_progress(reader, manager, group: str, summaries: Sequence | None = None) -> SweepProgress:
    """Count a sweep's runs by state: the manager's jobs (which know the queued ones) and the run
    store's folders (which know runs of earlier sessions or other processes) together.

    reader: lfm.store.RunReader; manager: lfm.lab.jobs.JobManager or None; summaries: reader.list_runs(), if
    the caller has it already."""
    progress = SweepProgress(group)
    summaries = reader.list_runs() if summaries is None else summaries
    in_store = [s for s in reversed(summaries) if s.meta.get("group") == group]  # oldest first
    jobs = [j for j in (manager.jobs() if manager is not None else []) if j.group == group]
    states = {s.run_id: s.state for s in in_store}
    for job in jobs:  # this process's view is fresher than status.json, and knows the queue
        if job.run_id is None:
            states[job.job_id] = job.state
        else:
            states[job.run_id] = job.state
    for state in states.values():
        if state == RunState.FINISHED:
            progress.finished += 1
        elif state in (RunState.RUNNING, RunState.PAUSED):
            progress.running += 1
        elif state == RunState.QUEUED:
            progress.queued += 1
        else:
            progress.ended_badly += 1
    progress.total = len(states)
    progress.run_ids = [s.run_id for s in in_store]
    return progress


class SweepGroup(NamedTuple):
    group: str
    num_runs: int         # runs of it in the run store so far
    created: str | None   # when its first run was created (ISO time)


def sweep_groups(summaries: Iterable, manager=None) -> list[SweepGroup]:
    """Every group in the run store (and, with manager, every group queued in this process), newest
    first. summaries: RunSummary objects, e.g. reader.list_runs()."""
    groups: dict[str, list] = {}
    for s in summaries:
        if s.meta.get("group"):
            groups.setdefault(s.meta["group"], []).append(s.created)
    for job in manager.jobs() if manager is not None else []:
        if job.group and job.group not in groups:
            groups[job.group] = []  # queued, no run folder yet
    found = [SweepGroup(g, len(created), min(filter(None, created), default=None)) for g, created in groups.items()]
    # groups not in the store yet are the newest of all; then by their first run's time
    return sorted(found, key=lambda g: (g.created is None, g.created or ""), reverse=True)
