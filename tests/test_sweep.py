"""lfm.lab.sweep: grid values (linear, log one-signed and across 0), input validation, plans, and a real sweep
of tiny runs through the JobManager followed to the end."""

import math
import subprocess
import sys

import pytest

from lfm.config import ConfigError
from lfm.lab.jobs import JobManager
from lfm.store import RunReader
from lfm.lab.sweep import (MAX_SWEEP_RUNS, SweepSpec, lambda_grid, parse_values, plan_sweep, submit_sweep,
                       sweep_groups, sweep_progress)
from tiny import TINY_CONFIG

TINY = TINY_CONFIG


@pytest.mark.parametrize("args, expected", [
    ((-0.5, 0.5, 5), [-0.5, -0.25, 0.0, 0.25, 0.5]),
    ((-0.3, 0.3, 7), [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]),  # rounded: no 0.30000000000000004
    ((0.0, 1.0, 2), [0.0, 1.0]),
    ((0.25, 0.25, 1), [0.25]),
])
def test_linear_grid(args, expected):
    assert lambda_grid(*args) == expected


@pytest.mark.parametrize("args, expected", [
    ((-0.5, 0.5, 5), [-0.5, -0.05, 0.0, 0.05, 0.5]),  # the documented example: smallest |λ| a tenth of 0.5
    ((-0.5, 0.5, 7), [-0.5, -0.158, -0.05, 0.0, 0.05, 0.158, 0.5]),
    ((-0.5, 0.5, 6), [-0.5, -0.05, 0.0, 0.05, 0.158, 0.5]),  # an odd point, equal ends: to the λ > 0 side
    ((-0.1, 1.0, 6), [-0.1, -0.01, 0.0, 0.01, 0.1, 1.0]),  # the odd point goes to the larger end's side
    ((0.01, 1.0, 3), [0.01, 0.1, 1.0]),  # one sign: plain geometric
    ((-1.0, -0.01, 3), [-1.0, -0.1, -0.01]),
    ((0.0, 1.0, 4), [0.0, 0.1, 0.316, 1.0]),  # 0 at one end: 0 plus a ladder
    ((-1.0, 0.0, 4), [-1.0, -0.316, -0.1, 0.0]),
])
def test_log_grid(args, expected):
    assert lambda_grid(*args, scale="log") == expected


def test_log_grid_across_zero_has_equal_ratios_and_a_chosen_smallest_magnitude():
    grid = lambda_grid(-1.0, 1.0, 9, scale="log", min_magnitude=0.001)
    assert grid == [-1.0, -0.1, -0.01, -0.001, 0.0, 0.001, 0.01, 0.1, 1.0]
    positive = [v for v in lambda_grid(-2.0, 2.0, 11, scale="log") if v > 0]
    ratios = [b / a for a, b in zip(positive, positive[1:])]
    assert max(ratios) / min(ratios) < 1.01  # geometric, up to the 3-digit rounding


@pytest.mark.parametrize("args, field, words", [
    ((-20, 1, 3), "lambda_low", ["lambda_low = -20", "-10 to 10"]),
    ((0, 11, 3), "lambda_high", ["lambda_high = 11", "-10 to 10"]),
    ((1, 0, 3), "lambda_low", ["above lambda_high", "lambda_low <= lambda_high"]),
    ((0, 1, 0), "n", ["n = 0", "integers 1 to 60"]),
    ((0, 1, 61), "n", ["n = 61", "integers 1 to 60"]),
    ((0, 1, 2.5), "n", ["n = 2.5", "integers 1 to 60"]),
    ((0, 1, 1), "n", ["n = 1", "n >= 2"]),
    ((0.5, 0.5, 3), "n", ["n = 3", "allowed n = 1"]),
    ((-1, 1, 2, "log"), "n", ["n = 2", "n >= 3"]),
    ((0, 1, 3, "cubic"), "scale", ["'cubic'", "'linear' or 'log'"]),
    ((0.001, 0.00101, 10), "n", ["repeat", "fewer values"]),
    ((float("nan"), 1, 3), "lambda_low", ["lambda_low", "-10 to 10"]),
])
def test_grid_refuses_bad_input_naming_the_field_and_the_allowed_values(args, field, words):
    with pytest.raises(ConfigError) as info:
        lambda_grid(*args)
    assert info.value.field == field
    for word in words:
        assert word in str(info.value)


def test_min_magnitude_must_be_below_the_smaller_end():
    with pytest.raises(ConfigError, match="0 < min_magnitude < 0.5") as info:
        lambda_grid(-0.5, 1.0, 5, scale="log", min_magnitude=0.6)
    assert info.value.field == "min_magnitude"


def test_parse_values_types_checks_and_names_the_setting():
    assert parse_values("seed", " 0, 1,2 ") == [0, 1, 2]
    assert parse_values("balance_coef", "0, 0.5") == [0.0, 0.5]
    for text, words in [("0,,1", "empty item"), ("1, 1", "more than once"), ("-1", "seed = -1"),
                        ("x", "is not a number"), (" ", "no values")]:
        with pytest.raises(ConfigError, match=words) as info:
            parse_values("seed", text)
        assert info.value.field == "seed" and not str(info.value).startswith("training.json")
    with pytest.raises(ConfigError, match="0 to 10"):
        parse_values("balance_coef", "0, 11")


def test_spec_counts_runs_and_caps_them():
    spec = SweepSpec((0.0, 0.5), balances=(0.0, 0.5), seeds=(0, 1, 2))
    assert spec.num_runs == 12 and spec.describe() == "2 λ × 2 balances × 3 seeds"
    assert SweepSpec((0.1,)).num_runs == 1 and SweepSpec((0.1,)).describe() == "1 λ × 1 balance × 1 seed"
    with pytest.raises(ConfigError, match=f"21 λ × 1 balance × 3 seeds = 63 runs .* at most {MAX_SWEEP_RUNS}"):
        SweepSpec(tuple(lambda_grid(-1, 1, 21)), seeds=(0, 1, 2))
    with pytest.raises(ConfigError, match="repeats"):
        SweepSpec((0.1, 0.1))
    with pytest.raises(ConfigError, match="lambda_entropy = 12"):
        SweepSpec((12.0,))
    with pytest.raises(ConfigError, match="no values"):
        SweepSpec(())


def test_plan_names_and_configs_seeds_outermost():
    base = TINY.with_overrides({"learning_rate": 0.01})
    plan = plan_sweep(base, SweepSpec((-0.5, 0.3), balances=(0.0, 0.5), seeds=(1, 2)), group="sweep-3f2a")
    assert len(plan) == 8
    assert plan[0].name == "sweep-3f2a λ=-0.5 b=0 seed=1"
    assert plan[3].name == "sweep-3f2a λ=0.3 b=0.5 seed=1"
    assert [p.seed for p in plan] == [1, 1, 1, 1, 2, 2, 2, 2]  # every λ gets a first run before any second seed
    for p in plan:
        assert p.config.model.lambda_entropy == p.lambda_entropy
        assert p.config.model.balance_coef == p.balance_coef
        assert p.config.training.seed == p.seed
        assert p.config.training.learning_rate == 0.01  # everything else is the base's
    # axes left out take the base config's values
    (only,) = plan_sweep(base.with_overrides({"balance_coef": 0.2, "seed": 7}), SweepSpec((0.1,)))
    assert only.balance_coef == 0.2 and only.seed == 7 and only.name.startswith("sweep-")


def test_a_sweep_runs_through_the_queue_and_is_followed_to_the_end(tmp_path):
    manager = JobManager(tmp_path, max_concurrent=2, orphan_grace_s=60)
    try:
        group = submit_sweep(manager, TINY, SweepSpec((-0.3, 0.0, 0.3)))
        jobs = [j for j in manager.jobs() if j.group == group]
        assert len(jobs) == 3
        assert sum(j.state == "queued" for j in jobs) >= 1  # the cap holds: only two start at once
        reader = RunReader(tmp_path)
        early = sweep_progress(reader, manager, group)
        assert early.total == 3 and early.active and early.queued + early.running + early.done == 3
        for job in jobs:
            assert manager.wait(job, 60)
        done = sweep_progress(reader, manager, group)
        assert (done.total, done.finished, done.active, done.fraction) == (3, 3, False, 1.0)
        runs = reader.list_runs()
        assert {r.meta["group"] for r in runs} == {group}
        assert sorted(r.config["hyperparameters"]["lambda_entropy"] for r in runs) == [-0.3, 0.0, 0.3]
        # after a restart (a new reader, no manager) the run store alone still knows the sweep
        assert sweep_progress(RunReader(tmp_path), None, group).finished == 3
        assert [g.group for g in sweep_groups(runs)] == [group] and sweep_groups(runs)[0].num_runs == 3
    finally:
        manager.close()


def test_a_sweep_that_cannot_start_queues_nothing(tmp_path):
    manager = JobManager(tmp_path, max_concurrent=1, orphan_grace_s=60)
    try:
        csv = tmp_path / "short.csv"
        csv.write_text("a\n1\n2\n")  # far too short for one window: refused when the runs are prepared
        with pytest.raises(ValueError):
            submit_sweep(manager, TINY.with_overrides({"dataset": "csv", "csv_path": str(csv)}), SweepSpec((0.0, 0.1)))
        assert not manager.active()
    finally:
        manager.close()


class RefusingManager:
    """Accepts `accept` submissions, then refuses like a data set that fails to load; records withdrawals."""

    def __init__(self, accept):
        self.accept, self.submitted, self.withdrawn = accept, [], []

    def submit(self, cfg, *, name=None, group=None, keep_alive=False, backend="thread", owner=None):
        if len(self.submitted) == self.accept:
            raise ValueError("refused")
        self.submitted.append(name)
        return name

    def withdraw(self, job):
        self.withdrawn.append(job)


def test_a_sweep_refused_halfway_takes_back_the_runs_it_queued():
    manager = RefusingManager(accept=2)
    with pytest.raises(ValueError, match="refused"):
        submit_sweep(manager, TINY, SweepSpec((0.0, 0.1, 0.2, 0.3)))
    assert manager.withdrawn == manager.submitted and len(manager.withdrawn) == 2


def test_grid_values_are_finite_and_sorted():
    for scale in ("linear", "log"):
        for low, high, n in [(-10, 10, 60), (-0.01, 5, 9), (0, 10, 30)]:
            grid = lambda_grid(low, high, n, scale)
            assert len(grid) == n and grid == sorted(grid) and all(math.isfinite(v) for v in grid)
            assert grid[0] == low and grid[-1] == high


def test_the_core_modules_import_no_ui_library():
    code = "import sys, lfm.lab.sweep, lfm.store.results; print(sorted({'streamlit', 'altair'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
