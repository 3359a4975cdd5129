"""Data sets for next-step prediction: windows of S+1 steps give x = steps[0:S], y = steps[1:S+1].

Four sources, listed in lfm.datasets.DATASETS (chosen by `TrainingConfig.dataset`, built by `load_data`):
- "random": the seed's dummy data, x and y independent N(0, 1): nothing to learn (`make_random`).
- "regimes" (default): synthetic windows from K=4 generators, label kept for specialisation metrics.
- "seattle_weather": the daily Seattle series from vega_datasets, weather category as the regime.
- "csv": any table of numeric columns, optional "regime"/"label" column (see `load_csv`).

The regimes generators (t = 0..S, per-window jitter drawn from one seeded torch.Generator):
    sine      level -1.5 + A sin(2 pi (t/P + phase))            + noise
    square    level -0.5 + A sign(sin(2 pi (t/P + phase)))      + noise
    sawtooth  level +0.5 + A (2 frac(t/P + phase) - 1)          + noise
    ar1       level +1.5 + z_t,  z_t = 0.8 z_(t-1) + N(0, 0.18^2), z_0 from the stationary law (std 0.3)
with period P ~ U(7, 9) for sine, U(5.5, 6.5) for square and U(4.5, 5.5) for sawtooth (REGIME_PERIODS),
amplitude A ~ U(0.3, 0.5), phase ~ U(0, 1), noise N(0, 0.05^2).
Why the levels: the model's gate sees only a learned function of the window mean x.mean(dim=1), so
a regime must be readable from its mean. The periodic parts average to ~0 over a window (at the
default S = 10 a window spans at least one period), the AR(1) part's window mean has std ~0.2 at
S = 10, and the levels are 1 apart, so nearest-level classification of the mean is nearly perfect;
ar1, the noisiest mean, sits at an end with one neighbour. A rhythm per regime and small noise keep every waveform predictable one
step ahead, so a trained model can beat the repeat-last-value baseline (`persistence_mse`) widely.

All real-valued data is standardised per feature with statistics from the training part only.
"""
import os
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from lfm.datasets import DataError, dataset  # DataError lives with the registry, which needs no torch

REGIME_NAMES = ["sine", "square", "sawtooth", "ar1"]
REGIME_LEVELS = [-1.5, -0.5, 0.5, 1.5]  # one per regime, 1 apart: the window mean reveals the regime
# Period ranges (steps) of the periodic regimes: each regime keeps its own rhythm, so one predictor per
# regime fits it and experts have something to specialise in (with periods drawn from one shared range
# a sample's frequency had to be inferred from a few steps, and the default model ended 2x, not 3x,
# below the repeat-last-value baseline, measured).
REGIME_PERIODS = {"sine": (7.0, 9.0), "square": (5.5, 6.5), "sawtooth": (4.5, 5.5)}

@dataclass
class DataBundle:
    name: str                          # data set name, e.g. "regimes" or the CSV file name
    x_train: torch.Tensor              # (N, S, F) float32 inputs
    y_train: torch.Tensor              # (N, S, F) float32 next-step targets: x shifted one step ahead
    labels_train: torch.Tensor | None  # (N,) int64 regime per window, None if the data has no regimes
    x_val: torch.Tensor                # (M, S, F) validation inputs
    y_val: torch.Tensor                # (M, S, F) validation targets
    labels_val: torch.Tensor | None    # (M,) validation regimes
    regime_names: list[str] | None     # name of regime k at index k
    num_features: int                  # F

    def train_loader(self, batch_size: int, seed: int) -> DataLoader:
        """Shuffled batches of (x, y, labels), or (x, y) without labels; the order depends only on seed."""
        tensors = [self.x_train, self.y_train]
        if self.labels_train is not None:
            tensors.append(self.labels_train)
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=True,
                          generator=generator)

    def probe(self, size: int = 64) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A fixed batch of about `size` validation windows, grouped by regime label (0, 1, ...).

        Every regime gets the same quota (size // K with balanced data); a regime with fewer windows
        gives all it has and its unused slots are shared by the others. Windows are evenly spaced over
        each regime's validation windows, so a chronological split is covered end to end.
        """
        if self.labels_val is None:
            idx = _evenly_spaced(torch.arange(len(self.x_val)), size)
            return self.x_val[idx], None
        groups = [torch.nonzero(self.labels_val == k).flatten() for k in range(len(self.regime_names))]
        quota = size
        while quota > 1 and sum(min(len(g), quota) for g in groups) > size:
            quota -= 1
        idx = torch.cat([_evenly_spaced(g, quota) for g in groups])
        return self.x_val[idx], self.labels_val[idx]

    def persistence_mse(self) -> float:
        """Validation MSE of the repeat-last-value forecast y_t = x_t: the bar a model must clear."""
        return torch.mean((self.y_val - self.x_val) ** 2).item()


def _evenly_spaced(idx: torch.Tensor, count: int) -> torch.Tensor:
    if len(idx) <= count:
        return idx
    return idx[torch.linspace(0, len(idx) - 1, count).round().long()]


def _standardise(train_steps: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Scale every tensor (..., F) with the per-feature mean/std of train_steps; constant features keep std 1."""
    flat = train_steps.reshape(-1, train_steps.shape[-1])  # (rows, F)
    mean, std = flat.mean(dim=0), flat.std(dim=0)
    std = torch.where(std < 1e-8, torch.ones_like(std), std)  # a constant column must not divide by 0
    return [(t - mean) / std for t in (train_steps, *others)]


def _bundle(name, windows_train, labels_train, windows_val, labels_val, regime_names) -> DataBundle:
    """Split windows (N, S+1, F) into inputs x = steps 0..S-1 and targets y = steps 1..S."""
    def split(windows):  # (N, S+1, F) -> x (N, S, F), y (N, S, F)
        return windows[:, :-1].float().contiguous(), windows[:, 1:].float().contiguous()

    (x_train, y_train), (x_val, y_val) = split(windows_train), split(windows_val)
    return DataBundle(name, x_train, y_train, labels_train, x_val, y_val, labels_val,
                      regime_names, windows_train.shape[-1])


def make_random(num_samples: int, sequence_length: int, token_dim: int, seed: int,
                val_fraction: float) -> DataBundle:
    """The seed's dummy data: x and y independent standard normal (N, S, token_dim), no labels."""
    if num_samples < 2:
        raise DataError(f"random data needs num_samples >= 2 for a train/validation split, got {num_samples}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_samples, sequence_length, token_dim, generator=g)  # (N, S, F)
    y = torch.randn(num_samples, sequence_length, token_dim, generator=g)  # (N, S, F) unrelated to x
    n_val = min(max(1, round(num_samples * val_fraction)), num_samples - 1)
    return DataBundle("random", x[n_val:], y[n_val:], None, x[:n_val], y[:n_val], None, None, token_dim)


def _regime_windows(k: int, n: int, length: int, g: torch.Generator) -> torch.Tensor:
    """n windows (n, length) of regime k, before normalisation."""
    t = torch.arange(length, dtype=torch.float64)  # (L,)
    rand = lambda lo, hi: lo + (hi - lo) * torch.rand(n, 1, generator=g, dtype=torch.float64)  # noqa: E731
    if REGIME_NAMES[k] == "ar1":
        phi, stationary_std = 0.8, 0.3
        innovations = torch.randn(n, length, generator=g, dtype=torch.float64)
        z = torch.empty(n, length, dtype=torch.float64)
        z[:, 0] = stationary_std * innovations[:, 0]
        for i in range(1, length):  # innovation std chosen so the process stays stationary
            z[:, i] = phi * z[:, i - 1] + stationary_std * (1 - phi ** 2) ** 0.5 * innovations[:, i]
        return REGIME_LEVELS[k] + z
    period = rand(*REGIME_PERIODS[REGIME_NAMES[k]])  # (n, 1): each regime has its own rhythm
    amplitude, phase = rand(0.3, 0.5), rand(0.0, 1.0)  # (n, 1) each
    cycle = t / period + phase  # (n, L) position in cycles
    wave = {"sine": torch.sin(2 * torch.pi * cycle),
            "square": torch.sign(torch.sin(2 * torch.pi * cycle)),
            "sawtooth": 2 * torch.frac(cycle) - 1}[REGIME_NAMES[k]]
    noise = 0.05 * torch.randn(n, length, generator=g, dtype=torch.float64)
    return REGIME_LEVELS[k] + amplitude * wave + noise


def make_regimes(num_samples: int, sequence_length: int, seed: int, val_fraction: float) -> DataBundle:
    """num_samples windows balanced over the 4 regimes, stratified seeded train/val split, F = 1."""
    K = len(REGIME_NAMES)
    if num_samples < 2 * K:
        raise DataError(f"regimes data needs num_samples >= {2 * K} (a train and a validation window "
                        f"per regime), got {num_samples}")
    g = torch.Generator().manual_seed(seed)
    train, val = [], []  # (windows (n, S+1), label) per regime
    for k in range(K):
        n_k = num_samples // K + (k < num_samples % K)  # balanced; the remainder goes to the first ones
        windows = _regime_windows(k, n_k, sequence_length + 1, g)[torch.randperm(n_k, generator=g)]
        n_val = min(max(1, round(n_k * val_fraction)), n_k - 1)
        val.append((windows[:n_val], k))
        train.append((windows[n_val:], k))

    def stack(parts):  # concatenate the regimes, then shuffle so batches and val are mixed
        windows = torch.cat([w for w, _ in parts])  # (N, S+1)
        labels = torch.cat([torch.full((len(w),), k, dtype=torch.long) for w, k in parts])
        order = torch.randperm(len(labels), generator=g)
        return windows[order].unsqueeze(-1), labels[order]  # (N, S+1, 1), (N,)

    (w_train, l_train), (w_val, l_val) = stack(train), stack(val)
    w_train, w_val = _standardise(w_train, w_val)
    return _bundle("regimes", w_train, l_train, w_val, l_val, list(REGIME_NAMES))


def _rows_needed(sequence_length: int, val_fraction: float) -> int:
    """Fewest rows giving >= 1 train and >= 1 val window after dropping the S straddling windows."""
    rows = 2 * sequence_length + 2
    while rows - sequence_length - _num_val(rows - sequence_length, val_fraction) - sequence_length < 1:
        rows += 1
    return rows


def _num_val(num_windows: int, val_fraction: float) -> int:
    return max(1, round(num_windows * val_fraction))


def _chronological(name, values, labels, regime_names, sequence_length, val_fraction) -> DataBundle:
    """Sliding windows (stride 1) over a table (T, F); the last val_fraction of windows validate.

    The S train windows that would share rows with the first validation window are dropped, so no
    validation value is ever seen in training. labels (T,) label each window by its last input row.
    """
    S, T = sequence_length, len(values)
    needed = _rows_needed(S, val_fraction)
    if T < needed:
        raise DataError(f"{name} has {T} rows; sequence_length={S} needs {S + 1} rows for one window "
                        f"and {needed} for a train/validation split (val_fraction={val_fraction})")
    num_windows = T - S
    first_val = num_windows - _num_val(num_windows, val_fraction)  # index of the first val window
    num_train = first_val - S  # train window i covers rows i..i+S, all before row first_val
    values = torch.tensor(values, dtype=torch.float64)  # (T, F), copied out of pandas
    _, values = _standardise(values[:first_val], values)  # stats from training rows only
    windows = values.unfold(0, S + 1, 1).transpose(1, 2)  # (T-S, S+1, F)
    train, val = slice(0, num_train), slice(first_val, num_windows)
    if labels is None:
        return _bundle(name, windows[train], None, windows[val], None, None)
    window_labels = torch.tensor(labels, dtype=torch.long)[S - 1:T - 1]  # (T-S,) last input row
    return _bundle(name, windows[train], window_labels[train], windows[val], window_labels[val],
                   regime_names)


def _encode_labels(column):
    """Map label values to 0..K-1 in sorted order; returns (codes ndarray, names)."""
    try:
        categories = sorted(column.unique().tolist())
    except TypeError:  # mixed types (e.g. 1 and "a") have no natural order
        categories = sorted(column.unique().tolist(), key=str)
    codes = column.map({c: i for i, c in enumerate(categories)}).to_numpy()
    return codes, [str(c) for c in categories]


def load_seattle_weather(sequence_length: int, val_fraction: float) -> DataBundle:
    """Seattle daily weather, F = 4 numeric features, label = weather of the last input day.

    Every window is used (about 1,450 at S=10): num_samples does not apply to a real series.
    """
    from vega_datasets import local_data

    df = local_data.seattle_weather().sort_values("date").reset_index(drop=True)
    values = df[["precipitation", "temp_max", "temp_min", "wind"]].to_numpy(dtype="float64")
    codes, names = _encode_labels(df["weather"])
    return _chronological("seattle_weather", values, codes, names, sequence_length, val_fraction)


# Limits of load_csv, checked before the work: beyond them parsing and training would take minutes or
# the machine's memory, and standardisation would overflow (the variance of values near 1e200 is inf in
# float64, so every value would train as 0).
MAX_CSV_BYTES = 256 * 1024 * 1024
MAX_CSV_COLUMNS = 1_024      # features, as many as the widest token_dim
MAX_CSV_ROWS = 1_000_000     # the most windows num_samples allows
MAX_CSV_MAGNITUDE = 1e100    # |value|; its square, summed over every row, stays finite in float64
MAX_CSV_REGIMES = 256        # distinct labels: every log step records an experts x regimes matrix


def _csv_bytes(path_or_buffer, name: str) -> bytes:
    """The file's bytes, refusing one above MAX_CSV_BYTES before reading it."""
    too_big = f"CSV {name} is larger than the limit of {MAX_CSV_BYTES // 2**20} MB"
    if isinstance(path_or_buffer, (str, os.PathLike)):
        if not os.path.isfile(path_or_buffer):
            raise DataError(f"CSV file not found: {path_or_buffer}")
        if os.path.getsize(path_or_buffer) > MAX_CSV_BYTES:
            raise DataError(too_big)
        with open(path_or_buffer, "rb") as f:
            data = f.read(MAX_CSV_BYTES + 1)
    else:
        data = path_or_buffer.read(MAX_CSV_BYTES + 1)
    data = data.encode("utf-8") if isinstance(data, str) else data
    if len(data) > MAX_CSV_BYTES:
        raise DataError(too_big)
    return data


def _check_csv_shape(data: bytes, name: str) -> None:
    """Refuse too many columns or rows by counting separators, in linear time, before pandas parses.
    The header's comma count is an upper bound (a quoted name may hold a comma); pandas' count is exact."""
    header = data.split(b"\n", 1)[0]
    columns = header.count(b",") + 1
    if columns > MAX_CSV_COLUMNS + 1 and b'"' not in header:  # + 1: a regime or label column
        raise DataError(f"CSV {name} has {columns:,} columns, above the limit of {MAX_CSV_COLUMNS:,} "
                        f"feature columns")
    rows = data.count(b"\n") - 1
    if rows > MAX_CSV_ROWS + 1:  # + 1: a last line without its newline
        raise DataError(f"CSV {name} has {rows:,} rows, above the limit of {MAX_CSV_ROWS:,}")


def load_csv(path_or_buffer, sequence_length: int, val_fraction: float, seed: int = 0) -> DataBundle:
    """A CSV of numeric columns (plus an optional 'regime' or 'label' column), split chronologically.

    path_or_buffer is a path or a file-like object (e.g. an upload). Rows in messages count from 1
    after the header. seed is accepted for a uniform signature; a chronological split needs none.
    Limits (MAX_CSV_*: size, columns, rows, magnitudes, labels) are checked before the work.
    """
    import io

    import pandas as pd

    name = os.path.basename(str(getattr(path_or_buffer, "name", path_or_buffer)))
    data = _csv_bytes(path_or_buffer, name)
    _check_csv_shape(data, name)
    try:
        df = pd.read_csv(io.BytesIO(data))
    except pd.errors.EmptyDataError:
        raise DataError(f"CSV {name} is empty: no header and no columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"CSV {name} could not be parsed: {str(e).strip().splitlines()[0]}") from None
    label_col = next((c for c in df.columns if str(c).strip().lower() in ("regime", "label")), None)
    feature_cols = [c for c in df.columns if c != label_col]
    if not feature_cols:
        raise DataError(f"CSV {name} has no numeric feature columns (columns: {list(df.columns)})")
    if len(feature_cols) > MAX_CSV_COLUMNS or len(df) > MAX_CSV_ROWS:
        raise DataError(f"CSV {name} has {len(feature_cols):,} feature columns and {len(df):,} rows: "
                        f"allowed at most {MAX_CSV_COLUMNS:,} columns and {MAX_CSV_ROWS:,} rows")
    features = pd.DataFrame(index=df.index)
    for col in feature_cols:
        raw = df[col]
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna() & raw.notna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise DataError(f"CSV {name}: column '{col}' is not numeric (row {row + 1} has "
                            f"{raw.iloc[row]!r}); only a 'regime' or 'label' column may hold text")
        missing = numeric.isna() | numeric.isin([float("inf"), float("-inf")])
        if missing.any():
            row = int(missing.to_numpy().argmax())
            raise DataError(f"CSV {name}: column '{col}' has a missing or infinite value at row "
                            f"{row + 1} ({int(missing.sum())} such rows in all)")
        huge = numeric.abs() > MAX_CSV_MAGNITUDE
        if huge.any():
            row = int(huge.to_numpy().argmax())
            raise DataError(f"CSV {name}: column '{col}' has {raw.iloc[row]} at row {row + 1}: allowed "
                            f"values up to {MAX_CSV_MAGNITUDE:g} in size ({int(huge.sum())} such rows in all)")
        features[col] = numeric.astype("float64")
    codes = names = None
    if label_col is not None:
        if df[label_col].isna().any():
            row = int(df[label_col].isna().to_numpy().argmax())
            raise DataError(f"CSV {name}: label column '{label_col}' is missing a value at row {row + 1}")
        if df[label_col].nunique() > MAX_CSV_REGIMES:
            raise DataError(f"CSV {name}: label column '{label_col}' has {df[label_col].nunique():,} "
                            f"different labels, above the limit of {MAX_CSV_REGIMES}")
        codes, names = _encode_labels(df[label_col])
    return _chronological(name, features.to_numpy(), codes, names, sequence_length, val_fraction)


def load_data(training, token_dim: int) -> DataBundle:
    """Build the data set named by training.dataset (a TrainingConfig or anything with its fields)
    with its builder from the registry, lfm.datasets.DATASETS."""
    return dataset(training.dataset).build(training, token_dim)
