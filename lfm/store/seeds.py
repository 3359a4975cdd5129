"""Runs that differ only in their seed: found in the store, and their numbers reduced to a mean and a band.

A seed changes the data drawn, the initial weights and the shuffling, nothing the experimenter chose. So
runs whose settings agree in everything but the seed are repeats of one experiment, and the honest
picture of that experiment is their mean with a band around it: where the band is narrow the result
is the settings' doing, where it is wide it is luck. Three pages draw that picture, each over its own x:
  * Compare: each setting's curves over training (x = step, one band per setting);
  * Sweep λ: final numbers against λ (x = λ, one band per balance value);
  * Lessons: a lesson's entropies over training (x = step, one band per series).
The steps:
  1. experiment_key(settings) is a run's settings less the seed (and the device, which decides where
     the run trains, not what it learns); runs with equal keys are one experiment;
  2. seed_groups(summaries) gathers the runs of a store (lfm.store.RunReader.list_runs) by that key,
     and group_labels names each group by the settings that tell the groups apart;
  3. seed_bands(table, x, columns, by) reduces any long table (curves, final numbers) to the mean,
     lowest and highest value of each column over the runs that share x and the `by` columns. The
     band spans the lowest to the highest seed (min–max, not ± std): with the 2–3 seeds a classroom
     can afford, a standard deviation says little, and min–max shows every seed's value.
Nothing here draws or imports a UI; pandas only.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import pandas as pd

from lfm.config import FIELDS

NOT_THE_EXPERIMENT = ("seed", "device")  # settings that do not make runs different experiments
LABEL_FIRST = ("lambda_entropy", "balance_coef")  # named in every group label, in this order
SHORT_NAMES = {"lambda_entropy": "λ", "balance_coef": "b"}  # how a label writes them
BAND_COLUMNS = ("column", "mean", "low", "high", "seeds")  # what seed_bands adds after x and `by`


def experiment_key(settings) -> tuple:
    """((name, value), ...) of every setting but NOT_THE_EXPERIMENT, in FIELDS order.

    settings: a RunSummary.settings (lfm.config.RunSettings) or any mapping of setting name to value.
    A setting a damaged record cannot give reads None, so such runs group only with their like."""
    return tuple((f.name, settings[f.name]) for f in FIELDS if f.name not in NOT_THE_EXPERIMENT)


class SeedGroup(NamedTuple):
    """The runs of one experiment: the same settings, one run per seed (or more, if a seed was repeated)."""
    key: tuple            # experiment_key of its runs
    run_ids: list[str]    # in the order they were given
    seeds: list           # each run's seed, in the same order

    @property
    def settings(self) -> dict:
        return dict(self.key)


def seed_groups(summaries: Iterable) -> list[SeedGroup]:
    """The runs grouped by experiment_key, groups in the order their first run comes.

    summaries: RunSummary objects (RunReader.list_runs(), or the ones a page shows)."""
    groups: dict[tuple, SeedGroup] = {}
    for summary in summaries:
        key = experiment_key(summary.settings)
        group = groups.setdefault(key, SeedGroup(key, [], []))
        group.run_ids.append(summary.run_id)
        group.seeds.append(summary.settings["seed"])
    return list(groups.values())


def _value_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def group_labels(groups: Sequence[SeedGroup]) -> list[str]:
    """A short name per group: λ and balance always, then every other setting whose value differs
    between the groups (the ones all groups share would only repeat), e.g. "λ=0.5 · b=0 · num_experts=8"."""
    differing = [name for name, _ in (groups[0].key if groups else ())
                 if name not in LABEL_FIRST and len({g.settings[name] for g in groups}) > 1]
    return [" · ".join(f"{SHORT_NAMES.get(name, name)}={_value_text(g.settings[name])}"
                       for name in (*LABEL_FIRST, *differing)) for g in groups]


def seed_bands(table: pd.DataFrame, x: str, columns: Sequence[str], by: Sequence[str] = ()) -> pd.DataFrame:
    """Mean, lowest and highest value of each column over the rows (runs) that share x and `by`.

    table: one row per run and x, e.g. lfm.store.results.curves(...) (x = "step") or results_table(...)
    (x = "lambda_entropy"). Rows whose value is missing (NaN) are left out of that column only, so a
    metric logged once an epoch is banded over the steps it was logged at. Columns out: *by, x, then
    column (the input column's name), mean, low, high and seeds (how many values were averaged), one row
    per (by, x, column), sorted by them. Columns absent from table or never logged give no rows."""
    keys = [*by, x]
    frames = []
    for column in columns:
        if column not in table.columns:
            continue
        values = table.loc[table[column].notna(), [*keys, column]]
        if values.empty:
            continue
        stats = (values.groupby(keys, sort=True, dropna=False)[column]
                 .agg(mean="mean", low="min", high="max", seeds="count").reset_index())
        frames.append(stats.assign(column=column))
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in [*keys, *BAND_COLUMNS]})
    return pd.concat(frames, ignore_index=True)[[*keys, *BAND_COLUMNS]]
