"""Tests for ui/reduce.py: the charts' data reduction (min/max downsampling, TensorBoard smoothing, the
long table of the line charts, even thinning), on numbers alone: no Altair involved."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ui import reduce


def make_run(num_rows, seed=0):
    """A metrics-like frame: int steps and epochs, noisy floats, a mostly-NaN and an all-NaN column."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, num_rows + 1) * 10
    loss = 1.0 / np.sqrt(np.arange(1, num_rows + 1)) + 0.05 * rng.random(num_rows)
    val = np.full(num_rows, np.nan)
    val[:: max(1, num_rows // 20)] = 0.5
    return pd.DataFrame({"step": step, "epoch": step // 1000, "loss": loss, "total_loss": loss + 0.01,
                         "val_loss": val, "mi_regime": np.nan, "load_0": rng.random(num_rows)})


def test_downsample_keeps_extremes_and_the_last_row():
    df = make_run(100_000)
    df.loc[12_345, "loss"] = 99.0  # a spike that naive striding would miss
    df["phase"] = np.where(df["step"] < 500_000, "warm-up", "main")  # a non-numeric column
    small = reduce.downsample(df, max_points=2000)
    assert len(small) <= 2000
    assert list(small.columns) == list(df.columns)
    for col in df.columns.drop("phase"):
        np.testing.assert_equal(small[col].min(), df[col].min(), col)  # NaN skipped; all-NaN stays NaN
        np.testing.assert_equal(small[col].max(), df[col].max(), col)
    pd.testing.assert_series_equal(small.iloc[-1], df.iloc[-1], check_names=False)
    assert small["step"].is_monotonic_increasing
    assert small["step"].dtype == df["step"].dtype
    assert set(small["phase"]) == {"warm-up", "main"}


def test_downsample_keeps_a_falling_curve_falling():
    # min and max go out in the order they occurred: a monotone curve must not become a zigzag
    df = pd.DataFrame({"step": np.arange(10_000), "entropy": np.linspace(2.0, 0.0, 10_000)})
    small = reduce.downsample(df, max_points=500)
    assert small["entropy"].is_monotonic_decreasing
    assert small["step"].is_monotonic_increasing


def test_downsample_leaves_small_frames_alone():
    df = make_run(100)
    assert reduce.downsample(df, max_points=2000) is df


def test_ema_smooth_weight_zero_is_identity():
    values = pd.Series([3.0, np.nan, 1.0, 7.0])
    pd.testing.assert_series_equal(reduce.ema_smooth(values, 0.0), values)


def test_ema_smooth_matches_hand_computed_debiased_ema():
    # w = 0.5: last = 0.5, 1.25, 2.625; debias 1 - 0.5**n = 0.5, 0.75, 0.875 -> 1, 5/3, 3
    np.testing.assert_allclose(reduce.ema_smooth([1.0, 2.0, 4.0], 0.5), [1.0, 5 / 3, 3.0])
    # a NaN stays NaN and is skipped: the next value is the second one seen
    np.testing.assert_allclose(reduce.ema_smooth([1.0, np.nan, 2.0], 0.5), [1.0, np.nan, 5 / 3])
    with pytest.raises(ValueError):
        reduce.ema_smooth([1.0], 1.0)


def test_long_series_keeps_the_budget_and_both_ends():
    df = make_run(50_000)
    long = reduce.long_series(df, {"loss": "train loss", "total_loss": "total loss"}, smoothing=0.6, budget=2_000)
    assert len(long) <= 2_000
    assert set(long["series"]) == {"train loss", "total loss"}
    for _, one in long.groupby("series"):  # each series spans the run, and keeps its spike-bearing max
        assert one["step"].iloc[0] == df["step"].iloc[0] and one["step"].iloc[-1] == df["step"].iloc[-1]
    assert long.loc[long["series"] == "train loss", "raw"].max() == df["loss"].max()


def test_long_series_without_smoothing_draws_the_raw_values():
    df = make_run(30)
    long = reduce.long_series(df, {"loss": "train loss", "no_such_column": "skipped"}, smoothing=0.0, budget=2_000)
    np.testing.assert_array_equal(long["raw"], df["loss"])
    np.testing.assert_array_equal(long["smoothed"], df["loss"])


@pytest.mark.parametrize("num_items, keep", [(10, 10), (1000, 7), (20_000, 2800)])
def test_evenly_spaced_spans_the_list(num_items, keep):
    idx = reduce.evenly_spaced(num_items, keep)
    assert len(idx) == keep and idx[0] == 0 and idx[-1] == num_items - 1
    assert (np.diff(idx) > 0).all()


def test_reduce_needs_no_altair():
    code = "import sys, ui.reduce; print('altair' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
