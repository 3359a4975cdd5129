"""lfm.store.seeds: runs that differ only in their seed are one experiment, reduced to a mean and a min–max band."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lfm.config import RunConfig
from lfm.store.seeds import BAND_COLUMNS, experiment_key, group_labels, seed_bands, seed_groups


def summary(run_id, **overrides):
    """A stand-in RunSummary: only run_id and settings are read."""
    return SimpleNamespace(run_id=run_id, settings=RunConfig().with_overrides(overrides).flat())


def test_runs_that_differ_only_in_seed_or_device_share_a_key():
    base = experiment_key(RunConfig().flat())
    assert experiment_key(RunConfig().with_overrides({"seed": 7, "device": "cpu"}).flat()) == base
    assert experiment_key(RunConfig().with_overrides({"lambda_entropy": 0.5}).flat()) != base
    assert experiment_key(RunConfig().with_overrides({"num_epochs": 3}).flat()) != base


def test_seed_groups_gather_the_seeds_of_each_setting_in_first_seen_order():
    runs = [summary("a", lambda_entropy=0.5, seed=0), summary("b", lambda_entropy=0.0, seed=0),
            summary("c", lambda_entropy=0.5, seed=1), summary("d", lambda_entropy=0.0, seed=1, device="cpu"),
            summary("e", lambda_entropy=0.5, seed=2, num_experts=8)]
    groups = seed_groups(runs)
    assert [(g.run_ids, g.seeds) for g in groups] == [(["a", "c"], [0, 1]), (["b", "d"], [0, 1]), (["e"], [2])]
    # λ and balance always named; num_experts because it tells two groups apart; the rest all share
    assert group_labels(groups) == ["λ=0.5 · b=0 · num_experts=4", "λ=0 · b=0 · num_experts=4",
                                    "λ=0.5 · b=0 · num_experts=8"]
    assert group_labels(groups[:2]) == ["λ=0.5 · b=0", "λ=0 · b=0"]
    assert seed_groups([]) == [] and group_labels([]) == []


def test_bands_are_the_mean_and_the_lowest_and_highest_seed_at_each_x():
    # two settings x three seeds; seed s adds s to setting A's value and 10 s to B's
    rows = [{"setting": name, "seed": s, "step": step, "loss": base + step + scale * s,
             "val_loss": np.nan if step % 20 else base + scale * s}
            for name, base, scale in (("A", 0.0, 1.0), ("B", 100.0, 10.0)) for s in range(3)
            for step in range(0, 50, 10)]
    bands = seed_bands(pd.DataFrame(rows), "step", ["loss", "val_loss", "not logged"], by=["setting"])
    assert list(bands.columns) == ["setting", "step", *BAND_COLUMNS]
    loss = bands[bands["column"] == "loss"]
    assert len(loss) == 2 * 5 and set(loss["seeds"]) == {3}
    b = loss[loss["setting"] == "B"].set_index("step")
    assert b.loc[10, "mean"] == pytest.approx(120.0) and (b.loc[10, "low"], b.loc[10, "high"]) == (110.0, 130.0)
    a = loss[loss["setting"] == "A"]
    assert np.allclose(a["high"] - a["low"], 2.0) and np.allclose(a["mean"], a["step"] + 1.0)
    # a column logged at some steps only is banded at those steps; a column absent gives no rows
    val = bands[bands["column"] == "val_loss"]
    assert sorted(set(val["step"])) == [0, 20, 40] and set(val["seeds"]) == {3}
    assert "not logged" not in set(bands["column"])


def test_steps_only_some_seeds_reached_count_only_those_seeds():
    rows = [{"step": step, "seed": s, "loss": float(s)} for s in (0, 1) for step in range(10 if s else 5)]
    bands = seed_bands(pd.DataFrame(rows), "step", ["loss"]).set_index("step")
    assert bands.loc[4, "seeds"] == 2 and bands.loc[4, "mean"] == 0.5
    assert bands.loc[9, "seeds"] == 1 and bands.loc[9, "low"] == bands.loc[9, "high"] == 1.0


def test_no_rows_give_an_empty_table_with_the_columns():
    bands = seed_bands(pd.DataFrame({"setting": [], "step": [], "loss": []}), "step", ["loss"], by=["setting"])
    assert bands.empty and list(bands.columns) == ["setting", "step", *BAND_COLUMNS]
