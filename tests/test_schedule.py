"""Tests for lfm/training/schedule.py and the loop's use of it: the factor's values, the constant schedule
changing nothing, a warm-up recorded in metrics.csv, and how a live lambda change combines with a schedule."""
import csv
import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lfm import LFModel, TrainingControl, train_model
from lfm.config import field_by_name
from lfm.training.experiment import execute, prepare_run
from lfm.training.schedule import SCHEDULES, LambdaSchedule, lambda_factor
from tiny import TINY_CONFIG


# --- the factor, a pure function -----------------------------------------------------------------

@pytest.mark.parametrize("schedule, progress, warmup, expected", [
    ("constant", 0.0, 0.25, 1.0), ("constant", 0.5, 0.25, 1.0), ("constant", 1.0, 0.0, 1.0),
    ("warmup", 0.0, 0.25, 0.0), ("warmup", 0.125, 0.25, 0.5), ("warmup", 0.25, 0.25, 1.0),
    ("warmup", 0.9, 0.25, 1.0), ("warmup", 0.0, 0.0, 1.0), ("warmup", 0.5, 1.0, 0.5),
    ("cosine", 0.0, 0.25, 0.0), ("cosine", 0.125, 0.25, 0.5), ("cosine", 0.25, 0.25, 1.0),
    ("cosine", 0.625, 0.25, 0.5), ("cosine", 1.0, 0.25, 0.0), ("cosine", 0.0, 0.0, 1.0),
    ("cosine", 0.5, 0.0, 0.5), ("cosine", 0.25, 0.0, 0.5 * (1 + math.cos(math.pi / 4))),
    ("cosine", 0.5, 1.0, 0.5), ("cosine", 1.0, 1.0, 1.0),
])
def test_factor_values(schedule, progress, warmup, expected):
    assert lambda_factor(schedule, progress, warmup) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("warmup", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_factor_stays_in_0_1_rises_through_the_warmup_and_never_rises_after(schedule, warmup):
    values = [lambda_factor(schedule, p / 200, warmup) for p in range(201)]
    assert all(0.0 <= v <= 1.0 for v in values)
    ramp = [v for p, v in enumerate(values) if p / 200 <= warmup]
    after = [v for p, v in enumerate(values) if p / 200 >= warmup]
    if schedule != "constant":
        assert ramp == sorted(ramp)  # rising while warming up
        assert after == sorted(after, reverse=True)  # flat (warmup) or falling (cosine) afterwards


def test_factor_clamps_progress_and_refuses_unknown_schedules():
    assert lambda_factor("warmup", -0.5, 0.25) == 0.0 and lambda_factor("cosine", 1.5, 0.25) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="'linear'.*constant, warmup, cosine"):
        lambda_factor("linear", 0.5, 0.25)


def test_schedule_object_maps_steps_to_progress():
    schedule = LambdaSchedule("warmup", 0.5)
    assert [schedule.factor(s, 8) for s in range(8)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
    assert LambdaSchedule().factor(3, 8) == 1.0  # constant, the default
    assert LambdaSchedule("cosine", 0.0).factor(0, 0) == 0.0  # no steps at all: the end of training


def test_the_settings_choices_are_the_schedules():
    assert field_by_name("lambda_schedule").choices == SCHEDULES
    assert field_by_name("lambda_schedule").default == "constant"


# --- the loop --------------------------------------------------------------------------------------

def tiny_loader(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, 8, generator=g)
    return DataLoader(TensorDataset(x, x.roll(-1, dims=1)), batch_size=16, shuffle=False)


class _Keep:
    """Callback: keeps every record in a list."""

    def __init__(self, into):
        self.into = into

    def on_step_end(self, record):
        self.into.append(record)


def records(schedule, lam=0.2, epochs=2, control=None, callbacks=()):
    """Every record of a tiny run (timings left out) and the lambda each optimiser step used."""
    torch.manual_seed(0)
    model = LFModel(8, 8, 8, 4, 3, lam, sequence_length=5)
    used = []
    model.moe.register_forward_hook(lambda module, args, out: used.append(module.lambda_entropy))
    seen = []
    train_model(model, tiny_loader(), epochs, 1e-2, callbacks=[_Keep(seen), *callbacks],
                seed=0, log_every=2, lambda_schedule=schedule, control=control)
    return [{k: v for k, v in r.items() if k not in ("time_s", "samples_per_s")} for r in seen], used


def test_constant_schedule_trains_exactly_as_without_one():
    """The default changes nothing: the same records, value for value, as a run given no schedule, and
    as a warm-up of length 0 (whose factor is 1 from the first step)."""
    none, used_none = records(None)
    constant, used_constant = records(LambdaSchedule("constant", 0.25))
    instant, _ = records(LambdaSchedule("warmup", 0.0))
    assert constant == none == instant
    assert used_constant == used_none == [0.2] * 8
    assert all(r["lambda_entropy"] == 0.2 for r in constant)


def test_warmup_and_cosine_scale_lambda_per_step():
    _, used = records(LambdaSchedule("warmup", 0.5))  # 8 steps: a 4-step ramp
    assert used == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2, 0.2])
    _, used = records(LambdaSchedule("cosine", 0.25))  # a 2-step ramp, then a 6-step cosine decay
    expected = [0.0, 0.1] + [0.1 * (1 + math.cos(math.pi * k / 6)) for k in range(6)]
    assert used == pytest.approx(expected)
    warm, _ = records(LambdaSchedule("warmup", 0.5))
    assert [r["lambda_entropy"] for r in warm] == pytest.approx([0.05, 0.15, 0.2, 0.2])  # each record: its last step's


def test_a_live_change_replaces_the_base_and_the_schedule_keeps_scaling_it():
    control = TrainingControl()

    class ChangeAtStep4:
        def on_step_end(self, record):
            if record["step"] == 4:
                control.set_lambda(1.0)

    _, used = records(LambdaSchedule("warmup", 0.75), control=control, callbacks=[ChangeAtStep4()])
    # 8 steps, a 6-step ramp: base 0.2 for steps 0-3, then 1.0 from step 4 on, times the same factor
    assert used == pytest.approx([0.0, 0.2 / 6, 0.4 / 6, 0.1, 4 / 6, 5 / 6, 1.0, 1.0])


def test_a_short_warmup_run_records_rising_lambda_in_metrics_csv(tmp_path):
    cfg = TINY_CONFIG.with_overrides({"lambda_entropy": 0.4, "lambda_schedule": "warmup", "lambda_warmup": 1.0,
                                      "num_epochs": 2, "log_every": 2})
    run = prepare_run(cfg, tmp_path)
    assert execute(run).status == "finished"
    with open(run.writer.path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lambdas = [float(r["lambda_entropy"]) for r in rows]
    steps = [int(r["step"]) for r in rows]
    total = int(rows[-1]["total_steps"])
    assert len(lambdas) >= 3 and lambdas == sorted(lambdas) and lambdas[0] < lambdas[-1] < 0.4
    assert lambdas == pytest.approx([0.4 * (s - 1) / total for s in steps])  # the factor of each record's last step


# --- what the run store makes of a scheduled run ---------------------------------------------------

@pytest.mark.parametrize("change", [None, 0.9])
def test_a_scheduled_run_counts_as_lambda_changed_only_when_lambda_was_changed(tmp_path, change):
    """The rows of a cosine run end near λ = 0, far from its setting, yet λ was not changed; a change
    sent while it trains is found in its events."""
    from lfm.store import RunReader
    from lfm.store.results import final_metrics

    control = TrainingControl()

    class ChangeAtStep2:
        def on_step_end(self, record):
            if change is not None and record["step"] == 2:
                control.set_lambda(change)

    cfg = TINY_CONFIG.with_overrides({"lambda_entropy": 0.4, "lambda_schedule": "cosine", "num_epochs": 2})
    run = prepare_run(cfg, tmp_path)
    assert execute(run, control=control, callbacks=[ChangeAtStep2()]).status == "finished"
    row = final_metrics(RunReader(tmp_path), run.run_id)
    assert row["lambda_entropy"] == 0.4 and row["lambda_changed"] is (change is not None)
