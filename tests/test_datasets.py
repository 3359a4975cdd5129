"""Tests for lfm/datasets.py: the one registry of data sets, and everything that reads its list."""
import subprocess
import sys
from types import SimpleNamespace

import pytest

from lfm import cli
from lfm.config import RunConfig, field_by_name
from lfm.datasets import BUILT_IN, DATASET_NAMES, DATASETS, DataError, dataset


def training(name, **overrides):
    fields = dict(dataset=name, csv_path=None, sequence_length=6, num_samples=40, seed=0, val_fraction=0.25,
                  regime_levels="distinct")
    return SimpleNamespace(**{**fields, **overrides})


def test_the_setting_offers_exactly_the_registry():
    f = field_by_name("dataset")
    assert f.choices == DATASET_NAMES == tuple(DATASETS)
    assert f.default in DATASETS
    for d in DATASETS.values():  # the setting's help names every data set with its summary
        assert f"{d.name}: {d.summary}." in f.help


def test_the_cli_offers_the_sets_that_need_no_file():
    assert BUILT_IN == tuple(d.name for d in DATASETS.values() if not d.needs_file)
    for name in BUILT_IN:
        assert cli.data_overrides(name) == {"dataset": name, "csv_path": None}
    assert cli.data_overrides("x.csv")["dataset"] == cli.FILE_DATASET and DATASETS[cli.FILE_DATASET].needs_file
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name in BUILT_IN:
        assert name in help_text


@pytest.mark.parametrize("name", [d.name for d in DATASETS.values() if d.synthetic])
def test_synthetic_sets_check_batch_size_against_their_windows(name):
    with pytest.raises(ValueError, match="batch_size"):
        RunConfig().with_overrides({"dataset": name, "batch_size": 900})


@pytest.mark.parametrize("name", [d.name for d in DATASETS.values() if not d.synthetic and not d.needs_file])
def test_real_series_take_any_batch_size(name):
    assert RunConfig().with_overrides({"dataset": name, "batch_size": 900}).training.batch_size == 900


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_builder_builds_its_set_and_labels_as_declared(name):
    bundle = dataset(name).build(training(name), 8)
    assert (bundle.labels_val is not None) == DATASETS[name].labels
    assert bundle.name == name


def test_unknown_name_lists_the_registry():
    with pytest.raises(DataError, match="unknown dataset 'mnist'; choose random, regimes, seattle_weather or csv"):
        dataset("mnist")


def test_the_registry_needs_no_torch():
    code = ("import sys\nsys.modules['torch'] = None\n"
            "import lfm.datasets, lfm.config\nprint(','.join(lfm.datasets.DATASET_NAMES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ",".join(DATASET_NAMES)
