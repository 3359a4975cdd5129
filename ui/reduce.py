"""Data reduction for the charts: at most a few thousand points, whatever the run length.

A browser draws a Vega-Lite chart smoothly up to ~3,000 points, and a 100,000-step run logs far more. So
every chart's data goes through one of these first:
  downsample     min/max buckets: the shape of a long curve, every spike kept (a drawing envelope)
  ema_smooth     TensorBoard's debiased exponential moving average, the smoothed trend of a noisy curve
  long_series    both at once, for the line charts: one long (step, series, raw, smoothed) table
  evenly_spaced  indices that thin a list of samples evenly (probe samples, quadrant points)
pandas and numpy only (no Altair), so each is tested on its numbers alone.
"""

import numpy as np
import pandas as pd


def downsample(df, max_points=2000, x="step"):
    """At most max_points rows that keep every spike: each bucket's min and max, plus the last row.

    The rows (sorted by x) except the last are cut into (max_points - 1) // 2 equal-count buckets, and
    each bucket becomes two rows. In each numeric column the two rows hold the bucket's min and max (NaN
    ignored) in the order they occurred, so a monotone x column puts the pair at the bucket's first and
    last x, and a falling curve is not drawn as a zigzag. Every column's overall min and max survive;
    one output row may mix values from different input rows (it is a drawing envelope, not a sample).
    Non-numeric columns take the bucket's first and last value. The last row is kept verbatim, so a live
    chart ends at the newest value. Frames of at most max_points rows come back unchanged.
    """
    if len(df) <= max_points:
        return df
    if x in df.columns and not df[x].is_monotonic_increasing:
        df = df.sort_values(x, kind="stable")
    body_rows = len(df) - 1  # every row but the last, which is appended as it is
    num_buckets = max(1, (max_points - 1) // 2)
    starts = np.arange(num_buckets) * body_rows // num_buckets  # (B,) first row of each bucket
    ends = np.r_[starts[1:], body_rows]  # (B,) one past the last row
    offsets = np.arange((ends - starts).max())  # (W,) W = the widest bucket
    rows = starts[:, None] + offsets[None, :]  # (B, W) row index of each slot
    pad = rows >= ends[:, None]  # (B, W) slots past a narrower bucket's end
    rows = np.minimum(rows, body_rows - 1)
    numeric = [c for c, dtype in df.dtypes.items() if pd.api.types.is_numeric_dtype(dtype)
               and not pd.api.types.is_bool_dtype(dtype)]
    table = df if len(numeric) == df.shape[1] else df[numeric]  # selecting columns copies them: only if needed
    values = table.to_numpy(dtype=float, na_value=np.nan)[rows]  # (B, W, C) all numeric columns
    skip = pad[:, :, None] | np.isnan(values)  # an all-NaN bucket picks slot 0, whose value is NaN
    i_min = np.where(skip, np.inf, values).argmin(axis=1)[:, None, :]  # (B, 1, C)
    i_max = np.where(skip, -np.inf, values).argmax(axis=1)[:, None, :]
    first = np.take_along_axis(values, np.minimum(i_min, i_max), axis=1)  # (B, 1, C) earlier extreme
    second = np.take_along_axis(values, np.maximum(i_min, i_max), axis=1)  # (B, 1, C) later extreme
    pairs = np.concatenate([first, second], axis=1).reshape(2 * num_buckets, len(numeric))  # (2B, C)
    out = {}
    for j, col in enumerate(numeric):  # ints stay ints (cast here: a pandas astype costs ~1 ms a column)
        dtype = df[col].dtype
        out[col] = pairs[:, j].astype(dtype) if isinstance(dtype, np.dtype) else pairs[:, j]
    for col in df.columns.difference(numeric, sort=False):  # labels: the bucket's first and last value
        other = df[col].to_numpy()
        out[col] = np.stack([other[starts], other[ends - 1]], axis=1).ravel()  # (2B,)
    reduced = pd.DataFrame(out, columns=df.columns)
    changed = {col: dtype for col, dtype in df.dtypes.items() if reduced[col].dtype != dtype}
    reduced = reduced.astype(changed, errors="ignore") if changed else reduced  # e.g. nullable ints, categories
    return pd.concat([reduced, df.iloc[[-1]]], ignore_index=True)


def ema_smooth(series, weight):
    """TensorBoard's smoothing: debiased exponential moving average, weight in [0, 1) (0 = none).

    s_t = weight * s_{t-1} + (1 - weight) * v_t, divided by 1 - weight**n (n = finite values seen so
    far) so the start is not pulled towards 0. Non-finite values pass through and are skipped, as in
    TensorBoard. That debiased EMA equals pandas' adjusted ewm over the finite values, used here for speed.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    values = pd.Series(series, dtype=float) if not isinstance(series, pd.Series) else series.astype(float)
    if weight == 0.0:
        return values.copy()
    finite = np.isfinite(values.to_numpy())  # (N,)
    if finite.all():  # the usual case, without the two masking passes
        return values.ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean()
    smoothed = values.where(finite).ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean()
    return smoothed.where(finite, values)


def long_series(df, columns, smoothing, budget):
    """Long frame (step, series, raw, smoothed) for the columns present, drawing at most ~budget points.

    df: the metrics table (a "step" column and the metric columns); columns: metric column -> series
    name; smoothing: the EMA weight (0 = none: "smoothed" is then the raw value).
    The EMA runs on the full data, before downsampling. When there are more rows than points to draw, the
    trend is also averaged over one bucket's width: the min/max envelope of a still-noisy trend would
    otherwise draw a band, not a line (the raw envelope keeps the spikes).
    """
    present = {col: name for col, name in columns.items() if col in df.columns}
    lines_per_step = len(present) * (2 if smoothing > 0 else 1)  # raw + smoothed line per series
    max_rows = max(4, budget // max(1, lines_per_step))
    bucket = 2 * len(df) // max_rows  # rows per downsample bucket (two points each)
    wide = {"step": df["step"].to_numpy()}
    for col in present:
        wide[col] = df[col].to_numpy(dtype=float)
        trend = ema_smooth(wide[col], smoothing)
        if smoothing > 0 and bucket > 1:
            trend = trend.rolling(bucket, min_periods=1, center=True).mean().where(trend.notna())
        wide[col + "__smoothed"] = trend.to_numpy()
    wide = downsample(pd.DataFrame(wide), max_points=max_rows)
    # one series after another (S = len(present) series of R rows), built from arrays in one go
    raw = np.concatenate([wide[col].to_numpy() for col in present])  # (S * R,)
    smoothed = np.concatenate([wide[col + "__smoothed"].to_numpy() for col in present])  # (S * R,)
    keep = ~(np.isnan(raw) & np.isnan(smoothed))  # (S * R,) a row with neither value draws nothing
    return pd.DataFrame({"step": np.tile(wide["step"].to_numpy(), len(present))[keep],
                         "series": np.repeat(list(present.values()), len(wide))[keep],
                         "raw": raw[keep], "smoothed": smoothed[keep]})


def evenly_spaced(num_items, keep):
    """Indices of `keep` items spread evenly over range(num_items), first and last included (sorted).
    Thinning an ordered list this way keeps each group's share of it (e.g. the samples of a regime)."""
    return np.linspace(0, num_items - 1, keep).round().astype(int)  # (keep,)
