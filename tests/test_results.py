"""lfm.store.results: dead experts, one run's final numbers, the table of several runs and their curves, on
real tiny runs and on hand-written run folders."""

import math

import numpy as np
import pytest

from lfm.training.experiment import execute, prepare_run
from lfm.store.results import RESULT_COLUMNS, curves, dead_experts, final_metrics, results_table
from lfm.store import RunReader, RunWriter
from lfm.training.loop import TrainResult
from ui.run_charts import utilisation_chart
from tiny import TINY_CONFIG

TINY = TINY_CONFIG.with_overrides({"num_epochs": 2})


@pytest.mark.parametrize("load, dead", [
    ([0.25, 0.25, 0.25, 0.25], []),
    ([0.7, 0.28, 0.015, 0.005], [2, 3]),   # equal share 0.25: dead below 0.025
    ([0.7, 0.275, 0.025, 0.0], [3]),       # exactly 10% of the equal share is alive
    ([2.0, 1.0, 0.0, 1.0], [2]),           # not normalised: shares are taken first
    ([0.0, 0.0], [0, 1]),
    ([float("nan"), 1.0], [0]),
    ([], []),
])
def test_dead_experts(load, dead):
    assert dead_experts(load) == dead


def test_dead_experts_agrees_with_the_chart_rule():
    rng = np.random.default_rng(0)
    for _ in range(200):
        load = rng.dirichlet(np.full(int(rng.integers(1, 9)), 0.3))
        for threshold in (None, 0.2):  # the experts the utilisation chart marks dead
            bars = utilisation_chart.data_step(load, threshold).tables["bars"]
            assert list(np.flatnonzero(bars["status"] == "dead")) == dead_experts(load, threshold)


def train(runs_dir, **overrides):
    run = prepare_run(TINY.with_overrides(overrides), runs_dir, name=f"λ={overrides.get('lambda_entropy', 0)}",
                      meta={"group": "sweep-test"})
    result = execute(run)
    assert result.status == "finished"
    return run.run_id


def test_final_metrics_of_real_runs(tmp_path):
    ids = [train(tmp_path, lambda_entropy=lam, seed=seed) for lam, seed in [(0.3, 0), (-0.2, 1)]]
    reader = RunReader(tmp_path)
    row = final_metrics(reader, ids[0])
    metrics = reader.read_metrics(ids[0])
    last = metrics.iloc[-1]
    assert set(row) == set(RESULT_COLUMNS)
    assert (row["name"], row["group"], row["state"], row["dataset"]) == ("λ=0.3", "sweep-test", "finished", "regimes")
    assert (row["lambda_entropy"], row["balance_coef"], row["seed"], row["num_experts"]) == (0.3, 0.0, 0, 4)
    assert row["steps"] == last["step"] == 2 * math.ceil(TINY.training.num_train_windows / 16)  # 2 epochs
    assert row["val_loss"] == pytest.approx(metrics["val_loss"].dropna().iloc[-1])
    for name in ("loss", "routing_entropy", "load_entropy", "specialisation", "mi_regime"):
        assert row[name] == pytest.approx(last[name])
    assert row["train_time_s"] == pytest.approx(last["time_s"]) and row["train_time_s"] > 0
    assert row["dead_experts"] == len(dead_experts([last[f"load_{e}"] for e in range(4)]))
    assert row["lambda_changed"] is False

    table = results_table(reader, [*ids, "no-such-run"])
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert table["run_id"].tolist() == ids  # in the given order; a missing run is left out
    assert table["lambda_entropy"].tolist() == [0.3, -0.2] and table["seed"].tolist() == [0, 1]
    assert str(table["steps"].dtype) == "Int64"


def write_run(runs_dir, rows, config=TINY, finish=True):
    """A run folder written by hand: rows are partial step records."""
    writer = RunWriter(runs_dir, config.to_dict(), name="hand", fsync=False)
    writer.on_train_start({"num_experts": 4, "total_steps": 100})
    for row in rows:
        writer.on_step_end({"expert_load": [0.25] * 4, "lambda_entropy": config.model.lambda_entropy,
                            "val_loss": None, **row})
    if finish:
        writer.on_train_end(TrainResult("finished", "done", rows[-1]["step"] if rows else 0, None, 1.0))
    return writer.run_id


def test_a_run_mid_epoch_reports_its_last_validation_loss_and_a_lambda_change(tmp_path):
    run_id = write_run(tmp_path, [{"step": 1, "val_loss": 0.9, "loss": 1.0},
                                  {"step": 2, "val_loss": 0.7, "loss": 0.8},
                                  {"step": 3, "loss": 0.6, "lambda_entropy": 0.5}], finish=False)
    row = final_metrics(RunReader(tmp_path), run_id)
    assert row["state"] == "running"
    assert row["val_loss"] == 0.7 and row["loss"] == 0.6 and row["steps"] == 3
    assert row["lambda_changed"] is True and row["lambda_entropy"] == TINY.model.lambda_entropy
    assert row["dead_experts"] == 0


def test_a_run_without_metrics_has_an_empty_row(tmp_path):
    run_id = write_run(tmp_path, [], finish=False)
    table = results_table(RunReader(tmp_path), [run_id])
    assert len(table) == 1 and table["steps"].isna().all() and math.isnan(table["val_loss"].iloc[0])
    assert table["dead_experts"].isna().all()
    assert results_table(RunReader(tmp_path), []).columns.tolist() == list(RESULT_COLUMNS)


def test_curves_stack_runs_with_their_lambda(tmp_path):
    a = write_run(tmp_path, [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3)])
    b = write_run(tmp_path, [{"step": s, "loss": 2.0 / s} for s in (1, 2)],
                  config=TINY.with_overrides({"lambda_entropy": 0.4}))
    long = curves(RunReader(tmp_path), [a, b, "no-such-run"], labels={a: "first"})
    assert len(long) == 5
    assert long.groupby("run_id")["lambda_entropy"].first().to_dict() == {a: TINY.model.lambda_entropy, b: 0.4}
    assert set(long["run"]) == {"first", "hand"}
    assert long["val_loss"].isna().all() and long.loc[long.run_id == b, "loss"].tolist() == [2.0, 1.0]
    assert curves(RunReader(tmp_path), []).empty


def test_a_run_whose_settings_no_longer_validate_still_has_a_row(tmp_path):
    """An older version's run (num_experts above today's range, an unknown key) reads, never raises."""
    old = {"hyperparameters": {"lambda_entropy": 0.2, "num_experts": 100, "gate_temperature": 1.0},
           "training": {"seed": 7}}
    writer = RunWriter(tmp_path, old, name="old", fsync=False)
    writer.on_step_end({"step": 1, "loss": 0.5, "expert_load": [0.5, 0.5]})
    writer.on_train_end(TrainResult("finished", "done", 1, None, 1.0))
    reader = RunReader(tmp_path)
    assert reader.summary(writer.run_id).settings.config is None
    row = final_metrics(reader, writer.run_id)
    assert (row["lambda_entropy"], row["seed"], row["loss"]) == (0.2, 7, 0.5)
    assert row["num_experts"] is None and row["dead_experts"] is None  # its value is unusable today
    assert curves(reader, [writer.run_id])["lambda_entropy"].tolist() == [0.2]
