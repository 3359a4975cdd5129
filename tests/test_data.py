"""Tests for lfm/data.py: shapes, next-step targets, regime separability, splits, CSV errors, probe."""
import io
import math
from types import SimpleNamespace

import pytest
import torch

from lfm.data import DataError, load_csv, load_data
from lfm.datasets import DATASETS


def training(dataset="regimes", **overrides):
    """A stand-in for TrainingConfig with only the fields load_data reads."""
    fields = dict(dataset=dataset, csv_path=None, sequence_length=6, num_samples=40, seed=0,
                  val_fraction=0.25)
    return SimpleNamespace(**{**fields, **overrides})


def write_csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def ramp_csv(tmp_path, rows=30):
    """Columns a = 0..rows-1 (a ramp, so order is visible), b = constant, label cycling x/y/z."""
    lines = ["a,b,label"] + [f"{i},5,{'xyz'[i % 3]}" for i in range(rows)]
    return write_csv(tmp_path, "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def seattle():
    return load_data(training("seattle_weather", sequence_length=5), token_dim=8)


@pytest.mark.parametrize("dataset,features", [("random", 8), ("regimes", 1), ("csv", 2)])
def test_shapes(tmp_path, dataset, features):
    csv_path = ramp_csv(tmp_path) if dataset == "csv" else None
    bundle = load_data(training(dataset, csv_path=csv_path), token_dim=8)
    assert bundle.num_features == features
    for x, y in [(bundle.x_train, bundle.y_train), (bundle.x_val, bundle.y_val)]:
        assert x.dtype == y.dtype == torch.float32
        assert x.shape == y.shape and x.shape[1:] == (6, features)
    assert len(bundle.x_val) > 0 and len(bundle.x_train) > 0
    if DATASETS[dataset].synthetic:  # synthetic sets make exactly num_samples windows
        assert len(bundle.x_train) + len(bundle.x_val) == 40
    else:
        assert dataset == "csv"


def test_random_has_no_labels_and_is_unlearnable():
    bundle = load_data(training("random", num_samples=400), token_dim=4)
    assert bundle.labels_train is None and bundle.regime_names is None
    assert len(next(iter(bundle.train_loader(8, seed=0)))) == 2  # (x, y) without labels
    # x and y independent N(0,1): repeating x costs ~2, and nothing in x predicts y
    assert 1.8 < bundle.persistence_mse() < 2.2
    assert "nothing to learn" in DATASETS["random"].note and not DATASETS["random"].learnable


@pytest.mark.parametrize("dataset", ["regimes", "csv"])
def test_y_is_x_shifted_one_step(tmp_path, dataset):
    csv_path = ramp_csv(tmp_path) if dataset == "csv" else None
    bundle = load_data(training(dataset, csv_path=csv_path), token_dim=8)
    for x, y in [(bundle.x_train, bundle.y_train), (bundle.x_val, bundle.y_val)]:
        assert torch.equal(x[:, 1:], y[:, :-1])


def test_seattle_weather(seattle):
    assert seattle.num_features == 4
    assert seattle.regime_names == ["drizzle", "fog", "rain", "snow", "sun"]
    assert seattle.x_train.shape[1:] == (5, 4)
    assert torch.equal(seattle.x_train[:, 1:], seattle.y_train[:, :-1])
    labels = torch.cat([seattle.labels_train, seattle.labels_val])
    assert labels.min() >= 0 and labels.max() < 5
    # 1,461 days -> 1,456 windows at S=5, less the 5 straddling the train/val boundary
    assert len(seattle.x_train) + len(seattle.x_val) == 1461 - 5 - 5
    assert abs(len(seattle.x_val) / 1456 - 0.25) < 0.01
    # standardised with training statistics
    assert seattle.x_train.mean(dim=(0, 1)).abs().max() < 0.05


def test_regimes_balanced_and_in_range():
    bundle = load_data(training(num_samples=80), token_dim=8)
    assert bundle.regime_names == ["sine", "square", "sawtooth", "ar1"]
    assert bundle.labels_train.dtype == torch.long
    assert torch.bincount(bundle.labels_train, minlength=4).tolist() == [15] * 4
    assert torch.bincount(bundle.labels_val, minlength=4).tolist() == [5] * 4
    # normalised with training statistics
    assert abs(bundle.x_train.mean().item()) < 0.05 and abs(bundle.x_train.std().item() - 1) < 0.05


def test_regimes_deterministic_per_seed():
    a, b = load_data(training(), 8), load_data(training(), 8)
    c = load_data(training(seed=1), 8)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.labels_val, b.labels_val)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("sequence_length", [4, 10])
def test_window_mean_reveals_regime(sequence_length):
    """The gate sees only x.mean over time: a nearest-centroid rule on that mean must find the regime."""
    bundle = load_data(training(num_samples=400, sequence_length=sequence_length), 8)
    mean_train = bundle.x_train.mean(dim=(1, 2))  # (N,)
    mean_val = bundle.x_val.mean(dim=(1, 2))  # (M,)
    centroids = torch.stack([mean_train[bundle.labels_train == k].mean() for k in range(4)])  # (K,)
    predicted = (mean_val[:, None] - centroids[None, :]).abs().argmin(dim=1)  # (M,)
    assert (predicted == bundle.labels_val).float().mean() > 0.9


@pytest.mark.parametrize("dataset", ["random", "regimes", "seattle_weather"])
def test_persistence_baseline_positive_finite(dataset, seattle):
    bundle = seattle if dataset == "seattle_weather" else load_data(training(dataset), 8)
    mse = bundle.persistence_mse()
    assert isinstance(mse, float) and math.isfinite(mse) and mse > 0


def test_train_loader_seeded_shuffle_with_labels():
    bundle = load_data(training(), 8)
    first = next(iter(bundle.train_loader(batch_size=5, seed=3)))
    again = next(iter(bundle.train_loader(batch_size=5, seed=3)))
    other = next(iter(bundle.train_loader(batch_size=5, seed=4)))
    x, y, labels = first
    assert x.shape == (5, 6, 1) and y.shape == (5, 6, 1) and labels.shape == (5,)
    assert torch.equal(x, again[0]) and not torch.equal(x, other[0])
    assert sum(len(batch[0]) for batch in bundle.train_loader(5, seed=0)) == len(bundle.x_train)


def test_probe_grouped_balanced_deterministic():
    bundle = load_data(training(num_samples=200), 8)
    x, labels = bundle.probe(size=16)
    assert x.shape == (16, 6, 1)
    assert labels.tolist() == sorted(labels.tolist())  # grouped by regime
    assert torch.bincount(labels, minlength=4).tolist() == [4] * 4
    x2, labels2 = bundle.probe(size=16)
    assert torch.equal(x, x2) and torch.equal(labels, labels2)
    # every probe window is a validation window
    assert all((bundle.x_val == w).all(dim=(1, 2)).any() for w in x)


def test_probe_shares_slots_of_rare_regimes(seattle):
    x, labels = seattle.probe(size=64)
    counts = torch.bincount(labels, minlength=5)
    available = torch.bincount(seattle.labels_val, minlength=5)
    assert labels.tolist() == sorted(labels.tolist())
    assert 56 <= len(labels) <= 64
    assert ((counts == available) | (counts == counts.max())).all()  # rare ones give all they have


def test_probe_without_labels():
    x, labels = load_data(training("random"), 8).probe(size=5)
    assert labels is None and x.shape == (5, 6, 8)


def test_csv_happy_path(tmp_path):
    bundle = load_csv(ramp_csv(tmp_path, rows=30), sequence_length=6, val_fraction=0.25)
    assert bundle.name == "data.csv" and bundle.regime_names == ["x", "y", "z"]
    # 24 windows: 6 for validation, 6 straddling dropped, 12 for training
    assert (len(bundle.x_train), len(bundle.x_val)) == (12, 6)
    # chronological and leak-free: every training target lies before every validation input
    a_train, a_val = bundle.y_train[..., 0], bundle.x_val[..., 0]
    assert a_train.max() < a_val.min()
    # standardised with the statistics of the 18 training rows (0..17) only, not the whole file
    train_rows = torch.arange(18, dtype=torch.float64)
    expected = (0 - train_rows.mean()) / train_rows.std()
    assert bundle.x_train[0, 0, 0].item() == pytest.approx(expected.item(), abs=1e-5)
    # label = label of the last input row: window 0 ends at row 5 -> 'z' (5 % 3 == 2)
    assert bundle.labels_train[0].item() == 2
    # the constant column is fine: standardised to zeros, not NaN
    assert torch.equal(bundle.x_train[..., 1], torch.zeros_like(bundle.x_train[..., 1]))


def test_csv_from_buffer_without_labels():
    text = "u,v\n" + "\n".join(f"{i},{i * i}" for i in range(20))
    bundle = load_csv(io.StringIO(text), sequence_length=3, val_fraction=0.2)
    assert bundle.labels_train is None and bundle.num_features == 2


@pytest.mark.parametrize("text,expected", [
    ("", ["empty"]),
    ("a,b\n1,2\n3,hello\n4,5\n", ["'b'", "not numeric", "row 2", "'hello'"]),
    ("a,b\n1,2\n3,\n4,5\n", ["'b'", "missing", "row 2"]),
    ("a,b\n" + "1,2\n" * 5, ["5 rows", "7 rows for one window", "sequence_length=6"]),
    ("a,b\n", ["0 rows"]),
    ("label\nx\ny\n", ["no numeric feature columns"]),
])
def test_csv_errors_name_the_problem(tmp_path, text, expected):
    with pytest.raises(DataError) as error:
        load_csv(write_csv(tmp_path, text), sequence_length=6, val_fraction=0.2)
    message = str(error.value)
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message


def test_csv_too_few_rows_for_a_split(tmp_path):
    path = write_csv(tmp_path, "a\n" + "1\n" * 9)  # 9 rows: enough for one window of 7, not a split
    with pytest.raises(DataError, match=r"9 rows.*7 rows for one window and \d+ for a train/validation"):
        load_csv(path, sequence_length=6, val_fraction=0.2)


def test_load_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found.*missing.csv"):
        load_data(training("csv", csv_path=str(tmp_path / "missing.csv")), 8)
    with pytest.raises(DataError, match="csv_path"):
        load_data(training("csv"), 8)
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load_data(training("mnist"), 8)
    with pytest.raises(DataError, match="num_samples"):
        load_data(training(num_samples=5), 8)
