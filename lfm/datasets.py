"""The data sets a run can train on, listed once: name, what it is, and how to build it.

DATASETS is the one registry every part reads: lfm.config takes the `dataset` setting's choices and
which sets make exactly num_samples windows from it, the CLI its --data names, the dashboard its notes,
and lfm.data.load_data the builder. Adding a data set means adding one DataSet here (and its builder
in lfm.data); nothing else lists them.

This module imports no torch: the settings and the CLI's help need the list without loading a model
library. Each builder imports lfm.data (and with it torch) only when it is called.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # for the annotations only: importing lfm.data loads torch
    from lfm.data import DataBundle


class DataError(ValueError):
    """A data set cannot be built; the message names the file, column or row counts at fault."""


@dataclass(frozen=True)
class DataSet:
    """One data set of the registry."""
    name: str             # the value of the `dataset` setting (and of the CLI's --data)
    summary: str          # a phrase for the setting's help text, after "name: "
    note: str             # one or two sentences for the dashboard, shown when the set is chosen
    build: Callable[[Any, int], DataBundle]  # (training settings, token_dim) -> DataBundle; loads torch
    labels: bool | None   # regime labels: always (True), never (False), or up to the file (None)
    synthetic: bool       # made from num_samples windows (so batch_size is checked against them)
    learnable: bool = True  # False: nothing in x predicts y; the dashboard says so plainly
    needs_file: bool = False  # reads the file named by the csv_path setting


def _build_random(training, token_dim: int) -> DataBundle:
    from lfm.data import make_random

    return make_random(training.num_samples, training.sequence_length, token_dim, training.seed,
                       training.val_fraction)


def _build_regimes(training, token_dim: int) -> DataBundle:
    from lfm.data import make_regimes

    return make_regimes(training.num_samples, training.sequence_length, training.seed, training.val_fraction)


def _build_seattle_weather(training, token_dim: int) -> DataBundle:
    from lfm.data import load_seattle_weather

    return load_seattle_weather(training.sequence_length, training.val_fraction)


def _build_csv(training, token_dim: int) -> DataBundle:
    from lfm.data import load_csv

    if not training.csv_path:
        raise DataError("dataset 'csv' needs csv_path (the CSV file to load)")
    return load_csv(training.csv_path, training.sequence_length, training.val_fraction, training.seed)


DATASETS: dict[str, DataSet] = {d.name: d for d in (
    DataSet("random", "noise, nothing to learn (the seed's dummy data)",
            "Random x and random y (the seed's dummy data): there is nothing to learn, "
            "the best possible MSE is ~1 (the variance of y).",
            _build_random, labels=False, synthetic=True, learnable=False),
    DataSet("regimes", "signals from known generators (sine, square, ...), so expert specialisation "
            "can be measured",
            "Synthetic sine / square / sawtooth / AR(1) windows, each at its own level so the "
            "window mean reveals the regime; next-step prediction.",
            _build_regimes, labels=True, synthetic=True),
    DataSet("seattle_weather", "daily Seattle weather 2012-2015",
            "Seattle daily weather 2012-2015 (precipitation, temp_max, temp_min, wind); "
            "regime = weather category of the last input day.",
            _build_seattle_weather, labels=True, synthetic=False),
    DataSet("csv", "the numeric columns of your own file (set csv_path)",
            "Your CSV: numeric columns, optional 'regime' or 'label' column; chronological split.",
            _build_csv, labels=None, synthetic=False, needs_file=True),
)}
DATASET_NAMES = tuple(DATASETS)                                        # in registry order
BUILT_IN = tuple(d.name for d in DATASETS.values() if not d.needs_file)  # sets that need no file of yours


def dataset(name: str) -> DataSet:
    """The registry entry called name; DataError listing the names otherwise."""
    if name not in DATASETS:
        *first, last = DATASET_NAMES
        raise DataError(f"unknown dataset {name!r}; choose {', '.join(first)} or {last}")
    return DATASETS[name]
