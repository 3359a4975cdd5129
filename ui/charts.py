"""Chart builders for the LFM Entropy Lab dashboard: plain data in, Altair chart or Vega-Lite dict out.

Pure functions (no streamlit, no I/O), so pages stay thin and each chart is tested by validating its
Vega-Lite spec. Every builder follows the same conventions:
- readable on a projector: fonts >= 13 px and thick lines, set on each axis, legend and text mark rather
  than in a top-level config, so the charts can still be layered or concatenated by a page;
- one colour per expert in every chart (expert_color_scale), one per metric (SERIES_COLORS);
- tooltips on every mark, width="container", SVG rendering;
- bounded size: at most ~3,000 data points whatever the run length (downsample keeps each bucket's min
  and max so spikes survive; heatmaps average within bins).
Each builder (loss_chart, ...) returns an Altair chart; live_spec(name, ...) gives the same chart as a
Vega-Lite dict for pages that redraw every second, at the cost of the data step alone (see "one data
step, two outputs" below). Entropies are in bits (lfm/nn/entropy.py); EXPLANATIONS holds a plain-language
caption per chart.
"""
import functools
import json
import math
from typing import Callable, NamedTuple

import altair as alt
import numpy as np
import pandas as pd

from lfm.store import results as _results

MAX_POINTS = 2800  # data points per chart, under the ~3,000 that keep a Vega-Lite chart snappy
FONT, TITLE_FONT = 14, 15  # px; a projector needs >= 13
MAX_EVENTS = 50  # lambda-change rules drawn per chart (the latest ones)
# d3 category10 (dark enough to read as label text on white), then 10 darker shades; cycles after 20.
EXPERT_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
                  "#31a354", "#756bb1", "#e6550d", "#636363")
# ColorBrewer Set2: pastel, so regime bands and points never read as expert colours.
REGIME_PALETTE = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3")
SERIES_COLORS = {  # metric -> colour, the same in every chart
    "train loss (MSE)": "#222222", "total loss (MSE + λ·H)": "#e6550d", "validation loss": "#3182bd",
    "routing entropy": "#9467bd", "load entropy": "#2ca02c", "specialisation": "#d62728"}
HEAT_SCHEME = "viridis"  # sequential scheme for probabilities 0..1
LAMBDA_COLORS = ("#2166ac", "#808080", "#b2182b")  # negative (spread), zero, positive (sharpen)
STATUS_TEXT = "#444444"

EXPLANATIONS = {
    "loss_chart": (
        "How wrong the model's next-step predictions are (mean squared error; lower is better) as training "
        "goes on: the faint line is the raw value logged every few steps, the thick line a smoothed trend. "
        "'Total loss' adds the entropy term λ (lambda) × routing entropy, which is what the optimiser actually "
        "minimises; dots are the validation loss on held-out windows, and dashed vertical lines mark "
        "where λ was changed."),
    "entropy_chart": (
        "Three measures of the gate's uncertainty, in bits. Routing entropy is how undecided the gate is "
        "for each single sample (averaged); load entropy is how evenly the experts are used over all "
        "samples; specialisation = load − routing is how much the input tells you which expert it gets. "
        "The dashed ceiling log2(E) means all experts weighted equally; λ > 0 pushes routing entropy down "
        "(sharper choices), λ < 0 pushes it up, and if load entropy falls too the gate is collapsing "
        "onto a few experts."),
    "gate_load_heatmap": (
        "Each row is an expert, each column a stretch of training steps; the colour is the average "
        "probability the gate gave that expert (0 = never chosen, 1 = always). Balanced use looks like "
        "the same colour (1/E) in every row; a row going dark is an expert falling out of use, and a "
        "single bright row is collapse onto one expert."),
    "probe_heatmap": (
        "The same fixed probe samples go through the gate at every snapshot: each row is a sample, each "
        "column an expert, the colour its gate probability. Samples are grouped by their known regime "
        "(coloured band); if the experts specialise, each regime's block lights up a different column. "
        "That is the picture of specialisation; rows spread evenly over all columns mean an undecided gate."),
    "regime_matrix_chart": (
        "For each regime (column), the average gate probability its samples give each expert (row); "
        "each column sums to 1. A specialised gate puts each column's weight on a different expert; "
        "identical columns mean the gate ignores the regime."),
    "utilisation_chart": (
        "Each expert's share of all gate probability over the latest logging interval; the dashed line "
        "is the equal share 1/E. Experts below the dotted threshold (by default 10% of the equal share) "
        "are flagged 'dead': they hardly receive any input, so they hardly learn."),
    "quadrant_chart": (
        "Each point is one probe sample's gate: x is its entropy (0 = all weight on one expert, "
        "log2(E) = all equal), y its varentropy, how much the surprise −log2 p varies from expert to "
        "expert (weighted by p). "
        "Following entropix: low/low = confident, high entropy/low varentropy = evenly unsure, low "
        "entropy/high varentropy = a few strong candidates (a favourite plus faint alternatives), "
        "high/high = confused. Lines mark the middle of each axis; the top of y is the largest "
        "varentropy E experts allow."),
    "lambda_color_scale": (
        "Colour of λ when runs are compared: grey is λ = 0 (no entropy term), blue is λ < 0 (pushes "
        "gates to spread out), red is λ > 0 (pushes gates to sharpen); deeper colour = larger |λ|."),
}


# ---- colours and shared pieces ------------------------------------------------------------------

def expert_names(num_experts):
    return [f"expert {e}" for e in range(num_experts)]


def expert_color_scale(num_experts):
    """The one expert -> colour mapping used by every chart ("expert 0" is always the same colour)."""
    return alt.Scale(domain=expert_names(num_experts),
                     range=[EXPERT_PALETTE[e % len(EXPERT_PALETTE)] for e in range(num_experts)])


def expert_label_color(num_experts):
    """Vega expression colouring an axis label "expert e" with the expert's colour (others dark grey)."""
    expr = "'#333333'"
    for name, color in reversed(list(zip(expert_names(num_experts), expert_color_scale(num_experts).range))):
        expr = f"datum.value == '{name}' ? '{color}' : {expr}"
    return alt.ExprRef(expr)


def regime_color_scale(regime_names):
    """Regime k (in the run's regime_names order) -> the k-th REGIME_PALETTE colour, in every chart."""
    names = list(regime_names)
    return alt.Scale(domain=names, range=[REGIME_PALETTE[k % len(REGIME_PALETTE)] for k in range(len(names))])


def lambda_color_scale(domain):
    """Quantitative colour scale for λ: symmetric around 0 (grey), blue = spread (λ < 0), red = sharpen.

    domain: the λ values on show. Use as alt.Color("lambda_entropy:Q", scale=lambda_color_scale(values)).
    """
    finite = [abs(float(v)) for v in domain if v is not None and math.isfinite(float(v))]
    m = max(finite, default=0.0) or 1.0  # symmetric, so the same λ gets the same colour in any comparison
    return alt.Scale(domain=[-m, 0.0, m], range=list(LAMBDA_COLORS), interpolate="lab")


def _series_scale(names):
    return alt.Scale(domain=list(names), range=[SERIES_COLORS[n] for n in names])


def _axis(title=None, **kw):
    return alt.Axis(title=title, labelFontSize=FONT, titleFontSize=TITLE_FONT, **kw)


def _expert_axis(num_experts, title="expert", **kw):
    return _axis(title, labelColor=expert_label_color(num_experts), labelFontWeight="bold", labelAngle=0, **kw)


def _legend(title=None, orient="top", **kw):
    return alt.Legend(title=title, labelFontSize=FONT, titleFontSize=FONT, orient=orient, **kw)


def _series_legend():  # solid strokes: the faint raw lines must not wash out the legend
    return _legend(None, symbolType="stroke", symbolStrokeWidth=4, symbolOpacity=1, symbolSize=300)


def _probability_color(field, title):
    """Sequential colour for a probability: fixed 0..1 so colours mean the same in every snapshot."""
    return alt.Color(f"{field}:Q", scale=alt.Scale(scheme=HEAT_SCHEME, domain=[0, 1]),
                     legend=_legend(title, gradientLength=220))


# ---- one data step, two outputs: an Altair chart, or a cached template filled with the data -----
#
# Building the Altair objects and converting them with to_dict() costs ~50-100 ms of Python per chart,
# all of it holding the GIL that the training thread (in the same process) needs. So each chart is two
# functions:
# 1. its data step, which is the public builder's body (pandas and numpy only): it returns ChartData,
#    the tables to draw, the few numbers inside the spec that depend on the data (slots, e.g. the top of
#    a y axis) and the chart's shape: every option that changes the spec's structure (E, regime names,
#    smoothing on or off, whether there are events, the height, ...);
# 2. its draw function, draw(table, slot, **shape) -> Altair chart, which gets each table by name.
# The public builders draw with the tables themselves: an ordinary Altair chart. live_spec draws once
# per shape with named datasets, converts that to a dict once (the template), and a redraw then costs
# the data step, a copy of the template and a few assignments.

_SLOT = "__slot__:"  # marks a slot's place in a template


class ChartData(NamedTuple):
    """What one chart draws now: the output of its data step."""
    draw: Callable  # draw(table, slot, **shape) -> Altair chart, with table(name) / slot(name) the data
    shape: dict  # keyword arguments of draw, hashable values: one template per distinct shape
    tables: dict  # dataset name -> DataFrame
    slots: dict = {}  # slot name -> float: a number inside the spec that depends on the data (read only)

    def chart(self):
        """The Altair chart, drawn with the tables themselves."""
        return self.draw(self.tables.__getitem__, self.slots.__getitem__, **self.shape)

    def spec(self):
        """The same chart as a Vega-Lite dict: this shape's template holding this data."""
        text, holes = _template(self.draw, tuple(sorted(self.shape.items())))
        spec = json.loads(text)  # a fresh copy (~0.1 ms), so callers (and Streamlit) may change it
        for path, name in holes:
            node = spec
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = self.slots[name]
        spec["datasets"] = dict(self.tables)
        return spec


def _leaves(node, path=()):
    """(path, value) of every non-container value in a JSON-like tree; path = the keys and indices."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield path, node
        return
    for key, value in items:
        yield from _leaves(value, (*path, key))


@functools.lru_cache(maxsize=256)
def _template(draw, shape):
    """(spec JSON without data, ((path, slot name), ...)) of draw at shape (sorted (name, value) pairs).

    The only place the live path builds Altair objects: once per chart shape, so a live page pays it on
    its first redraw and when the shape changes (e.g. the first validation point or λ change).
    """
    handles = {}  # one object per name: Altair lifts data to the top only if every layer's is identical
    chart = draw(lambda name: handles.setdefault(name, alt.NamedData(name=name)), lambda name: _SLOT + name,
                 **dict(shape))
    spec = chart.to_dict()
    if alt.theme.active == "default":
        spec.pop("config", None)  # as st.altair_chart does: that theme only adds a 300 px default view size
    holes = tuple((path, value[len(_SLOT):]) for path, value in _leaves(spec)
                  if isinstance(value, str) and value.startswith(_SLOT))
    return json.dumps(spec), holes


_DATA_STEPS = {}  # chart name -> its data step, for live_spec


def _builder(data_step):
    """Register a chart's data step for live_spec; return the public builder of the same name, signature
    and docstring, which gives the Altair chart."""
    _DATA_STEPS[data_step.__name__] = data_step

    @functools.wraps(data_step)
    def builder(*args, **kwargs):
        return data_step(*args, **kwargs).chart()

    return builder


def live_spec(name, *args, **kwargs):
    """Chart `name` (a builder's name, e.g. "loss_chart", with that builder's arguments) as a Vega-Lite
    dict for st.vega_lite_chart(spec, width="stretch"), for redraws every second.

    Same marks, encodings and data as the builder's Altair chart, but it costs only the data step (a few
    ms): the structure comes from a template built once per chart shape. Datasets have fixed names, so the
    spec text stays the same from one redraw to the next and the browser can swap the data in place.
    spec["datasets"] holds the DataFrames themselves, which Streamlit sends as Arrow (as it does an
    Altair chart's data); with_records() turns them into plain JSON rows.
    """
    return _DATA_STEPS[name](*args, **kwargs).spec()


def with_records(spec):
    """spec with each DataFrame in spec["datasets"] as a list of records (NaN -> None), like Altair's
    to_dict(): plain JSON, to save a spec or compare it with an Altair chart's."""
    def records(data):
        if not isinstance(data, pd.DataFrame):
            return data
        return data.astype(object).where(data.notna(), None).to_dict(orient="records")

    return {**spec, "datasets": {name: records(data) for name, data in spec.get("datasets", {}).items()}}


def _finish(chart, height):
    # SVG whatever the number of marks: Streamlit would switch to canvas above 2,000, and the browser test
    # counts SVG marks and the chart toolbar exports SVG
    return chart.properties(width="container", height=height, usermeta={"embedOptions": {"renderer": "svg"}})


def _message(text, height=120):
    """Placeholder (e.g. 'no data yet') so pages can always render what a builder returns."""
    return ChartData(_draw_message, {"height": height}, {"message": pd.DataFrame({"message": [text]})})


def _draw_message(table, slot, *, height):
    chart = alt.Chart(table("message")).mark_text(fontSize=16, color=STATUS_TEXT).encode(
        text="message:N", tooltip=["message:N"])
    return _finish(chart, height)


# ---- data reduction -----------------------------------------------------------------------------

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


# ---- line charts over training steps ------------------------------------------------------------

def _long_series(df, columns, smoothing, budget):
    """Long frame (step, series, raw, smoothed) for the columns present, drawing at most ~budget points.

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


def _line_layers(lines, series_scale, y_title, y_scale, smoothed):
    """Faint raw lines, thick smoothed lines (or thick raw lines without smoothing), and a hover rule
    showing the nearest step's values. lines: the _long_series table."""
    base = alt.Chart(lines).encode(
        x=alt.X("step:Q", axis=_axis("training step", tickMinStep=1, format=",d"), scale=alt.Scale(zero=False, nice=False)),
        color=alt.Color("series:N", scale=series_scale, legend=_series_legend()))
    tooltip = ["series:N", alt.Tooltip("step:Q", format=","), alt.Tooltip("raw:Q", format=".4f", title="value")]
    if smoothed:
        tooltip.insert(2, alt.Tooltip("smoothed:Q", format=".4f"))
    main = alt.Y("smoothed:Q" if smoothed else "raw:Q", scale=y_scale, axis=_axis(y_title))
    layers = []
    if smoothed:  # without smoothing there is no trend: the raw line is drawn thick instead
        layers.append(base.mark_line(strokeWidth=1.5, opacity=0.3).encode(
            y=alt.Y("raw:Q", scale=y_scale, axis=_axis(y_title)), tooltip=tooltip))
    layers.append(base.mark_line(strokeWidth=3.5).encode(y=main, tooltip=tooltip))
    hover = alt.selection_point(name="hover", fields=["step"], nearest=True, on="pointerover", empty=False,
                                clear="pointerout")  # named: the spec stays the same from redraw to redraw
    layers.append(base.mark_point(size=90, filled=True).encode(
        y=main, opacity=alt.condition(hover, alt.value(1.0), alt.value(0.0)), tooltip=tooltip).add_params(hover))
    layers.append(base.mark_rule(color="#999999", strokeWidth=1.5).encode(tooltip=tooltip)
                  .transform_filter(hover))
    return layers


def _event_table(events):
    """(step, value, label) of the latest MAX_EVENTS lambda changes, or None if there are none."""
    rows = [{"step": e["step"], "value": float(e["value"]), "label": f"lambda -> {float(e['value']):g}"}
            for e in events or () if e.get("kind", "lambda_change") == "lambda_change"
            and e.get("step") is not None and e.get("value") is not None]
    return pd.DataFrame(rows[-MAX_EVENTS:]) if rows else None


def _event_layers(events, color=STATUS_TEXT):
    """Dashed vertical rule and a "lambda -> v" label at each lambda change (events: _event_table's)."""
    tooltip = [alt.Tooltip("step:Q", format=","), alt.Tooltip("value:Q", title="new lambda")]
    rule = alt.Chart(events).mark_rule(strokeDash=[6, 4], strokeWidth=2, color=color).encode(
        x="step:Q", tooltip=tooltip)
    text = alt.Chart(events).mark_text(align="left", dx=5, fontSize=FONT, fontWeight="bold",
                                       color=STATUS_TEXT).encode(x="step:Q", y=alt.value(12),
                                                                 text="label:N", tooltip=tooltip)
    return [rule, text]


def _with_events(tables, events):
    """tables plus the "events" table when there are lambda changes; and whether there are."""
    table = _event_table(events)
    return ({**tables, "events": table} if table is not None else tables), table is not None


LOSS_SERIES = {"loss": "train loss (MSE)", "total_loss": "total loss (MSE + λ·H)"}  # column -> series name
ENTROPY_SERIES = {"routing_entropy": "routing entropy", "load_entropy": "load entropy",
                  "specialisation": "specialisation"}


@_builder
def loss_chart(df, smoothing=0.6, events=None, log_y=False, height=340):
    """Primary (MSE), total and validation loss against step; lambda changes as vertical rules."""
    if df is None or len(df) == 0 or "loss" not in df.columns:
        return _message("no loss logged yet")
    long = _long_series(df, LOSS_SERIES, smoothing, budget=MAX_POINTS - 400)  # 300 validation points + slack
    val = pd.DataFrame(columns=["step", "val_loss"])
    if "val_loss" in df.columns:  # sparse: reduce it on its own, else buckets would duplicate its points
        val = downsample(df.loc[df["val_loss"].notna(), ["step", "val_loss"]], max_points=300)
    if log_y:  # a log axis cannot show values <= 0 (total loss is negative when λ < 0 and MSE is small)
        long[["raw", "smoothed"]] = long[["raw", "smoothed"]].where(long[["raw", "smoothed"]] > 0)
        long = long.dropna(subset=["raw", "smoothed"], how="all")
        val = val[val["val_loss"] > 0]
    tables = {"lines": long}
    if len(val):
        tables["validation"] = val.assign(series="validation loss")
    tables, has_events = _with_events(tables, events)
    return ChartData(_draw_loss, dict(smoothed=smoothing > 0, log_y=log_y, validation=len(val) > 0,
                                      events=has_events, height=height), tables)


def _draw_loss(table, slot, *, smoothed, log_y, validation, events, height):
    series_scale = _series_scale([*LOSS_SERIES.values(), "validation loss"])
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    y_title = "loss (log scale)" if log_y else "loss"
    layers = _line_layers(table("lines"), series_scale, y_title, y_scale, smoothed)
    if validation:
        layers.append(alt.Chart(table("validation"))
                      .mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=80, filled=True))
                      .encode(x="step:Q", y=alt.Y("val_loss:Q", scale=y_scale, axis=_axis(y_title)),
                              color=alt.Color("series:N", scale=series_scale, legend=_series_legend()),
                              tooltip=[alt.Tooltip("step:Q", format=","),
                                       alt.Tooltip("val_loss:Q", title="validation loss", format=".4f")]))
    return _finish(alt.layer(*layers, *(_event_layers(table("events")) if events else [])), height)


@_builder
def entropy_chart(df, num_experts, smoothing=0.0, events=None, height=340):
    """Routing entropy, load entropy and specialisation (bits) against step, under the log2(E) ceiling."""
    if df is None or len(df) == 0 or "routing_entropy" not in df.columns:
        return _message("no entropies logged yet")
    h_max = math.log2(num_experts) if num_experts > 1 else 1.0
    tables = {"lines": _long_series(df, ENTROPY_SERIES, smoothing, budget=MAX_POINTS),
              "ceiling": pd.DataFrame({"bits": [h_max], "label": [f"log2(E) = {h_max:.2f} bits (max)"]})}
    tables, has_events = _with_events(tables, events)
    return ChartData(_draw_entropy, dict(h_max=h_max, smoothed=smoothing > 0, events=has_events, height=height),
                     tables)


def _draw_entropy(table, slot, *, h_max, smoothed, events, height):
    y_scale = alt.Scale(domain=[0, h_max * 1.08], nice=False, clamp=True)
    layers = _line_layers(table("lines"), _series_scale(list(ENTROPY_SERIES.values())), "bits", y_scale,
                          smoothed)
    tooltip = ["label:N"]
    layers.append(alt.Chart(table("ceiling")).mark_rule(strokeDash=[8, 5], strokeWidth=2.5, color=STATUS_TEXT)
                  .encode(y=alt.Y("bits:Q", scale=y_scale), tooltip=tooltip))
    layers.append(alt.Chart(table("ceiling")).mark_text(align="left", baseline="bottom", dx=6, dy=-4,
                                                        fontSize=FONT, color=STATUS_TEXT)
                  .encode(x=alt.value(0), y=alt.Y("bits:Q", scale=y_scale), text="label:N", tooltip=tooltip))
    return _finish(alt.layer(*layers, *(_event_layers(table("events")) if events else [])), height)


# ---- heatmaps -----------------------------------------------------------------------------------

@_builder
def gate_load_heatmap(df, num_experts, max_columns=300, events=None):
    """Expert (y) x step (x) heatmap of the mean gate probability per expert, averaged in step bins."""
    load_cols = [f"load_{e}" for e in range(num_experts)]
    if df is None or len(df) == 0 or any(c not in df.columns for c in load_cols):
        return _message("no expert load logged yet")
    steps = df["step"].to_numpy(dtype=float)
    num_bins = max(1, min(max_columns, MAX_POINTS // num_experts, len(df)))
    stride = float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0  # the log interval
    lo, hi = steps.min(), steps.max() + max(stride, 1.0)
    width = (hi - lo) / num_bins
    bins = np.minimum(((steps - lo) // width).astype(int), num_bins - 1)  # (N,) bin of each row
    loads = df[load_cols].groupby(bins).mean()  # (bins, E), only bins holding rows
    first_last = df["step"].groupby(bins).agg(["min", "max"])
    starts = lo + loads.index.to_numpy() * width
    long = pd.DataFrame({
        "step_start": np.tile(starts, num_experts), "step_end": np.tile(starts + width, num_experts),
        "steps": np.tile([f"{a:,.0f} – {b:,.0f}" for a, b in zip(first_last["min"], first_last["max"])],
                         num_experts),
        "expert": np.repeat(expert_names(num_experts), len(loads)),
        "load": loads.to_numpy().T.ravel()})  # expert-major, matching np.repeat above
    tables, has_events = _with_events({"cells": long}, events)
    return ChartData(_draw_gate_load, dict(num_experts=num_experts, events=has_events), tables)


def _draw_gate_load(table, slot, *, num_experts, events):
    heat = alt.Chart(table("cells")).mark_rect().encode(
        x=alt.X("step_start:Q", axis=_axis("training step", tickMinStep=1, format=",d"), scale=alt.Scale(zero=False, nice=False)),
        x2="step_end:Q",
        y=alt.Y("expert:N", sort=expert_names(num_experts), axis=_expert_axis(num_experts, title=None)),
        color=_probability_color("load", "mean gate probability"),
        tooltip=["steps:N", "expert:N", alt.Tooltip("load:Q", title="mean gate probability", format=".3f")])
    rules = _event_layers(table("events"), color="white")[:1] if events else []  # labels would cover cells
    # Streamlit fits legend and axes inside the height too: ~170 px of them, then >= 36 px per expert row
    # so every expert's label fits (Vega drops labels that would overlap)
    return _finish(alt.layer(heat, *rules), 36 * num_experts + 170)


def _regime_name(label, regime_names):
    if regime_names is not None and 0 <= label < len(regime_names):
        return str(regime_names[label])
    return f"regime {label}"


def _regime_domain(labels, regime_names):
    """All regime names in the run's order (so colours match across charts), then any unnamed labels."""
    names = [str(n) for n in regime_names or ()]
    return names + sorted({_regime_name(int(l), regime_names) for l in labels} - set(names))


def _probe(probe_gates, probe_labels):
    """A probe snapshot as a (P, E) array (None when there is none yet), and whether its labels fit it."""
    gates = np.asarray(probe_gates if probe_gates is not None else [], dtype=float)
    if gates.ndim != 2 or gates.size == 0:
        return None, False
    return gates, probe_labels is not None and len(probe_labels) == len(gates)


@_builder
def probe_heatmap(probe_gates, probe_labels=None, regime_names=None):
    """Probe sample (y, grouped by regime) x expert (x) heatmap of gate probability, with a regime band."""
    gates, grouped = _probe(probe_gates, probe_labels)
    if gates is None:
        return _message("no gate snapshot yet")
    num_samples, num_experts = gates.shape  # (P, E)
    labels = np.asarray(probe_labels, dtype=int) if grouped else np.zeros(num_samples, dtype=int)
    order = np.argsort(labels, kind="stable")  # samples grouped by regime, original order within
    keep = MAX_POINTS // (num_experts + 1)
    if num_samples > keep:  # even thinning of the grouped order keeps every regime's share of rows
        order = order[np.linspace(0, num_samples - 1, keep).round().astype(int)]
    rows = pd.DataFrame({"rank": np.arange(len(order)), "sample": order,
                         "regime": [_regime_name(l, regime_names) for l in labels[order]]})
    tables = {"cells": pd.DataFrame({
        "rank": np.repeat(rows["rank"], num_experts), "sample": np.repeat(rows["sample"], num_experts),
        "regime": np.repeat(rows["regime"], num_experts), "column": np.tile(expert_names(num_experts), len(order)),
        "probability": gates[order].ravel()})}  # (P' * E,) sample-major, matching np.repeat / np.tile
    regimes = None
    if grouped:
        regimes = tuple(_regime_domain(labels, regime_names))
        tables["band"] = rows.assign(column="regime")
        middle = tables["band"].groupby("regime", sort=False)["rank"].median().astype(int).reset_index()
        tables["band_labels"] = middle.assign(column="regime")
    height = int(min(520, max(240, 6 * len(order))))
    return ChartData(_draw_probe, dict(num_experts=num_experts, regimes=regimes, height=height), tables)


def _draw_probe(table, slot, *, num_experts, regimes, height):
    """regimes: the regime colour domain when samples are grouped by regime, else None."""
    grouped = regimes is not None
    columns = (["regime"] if grouped else []) + expert_names(num_experts)
    y = alt.Y("rank:O", axis=_axis("probe samples, grouped by regime" if grouped else "probe samples",
                                   labels=False, ticks=False))
    x = alt.X("column:N", sort=columns, scale=alt.Scale(domain=columns),
              axis=_expert_axis(num_experts, title=None, orient="top"))
    layers = [alt.Chart(table("cells")).mark_rect().encode(
        x=x, y=y, color=_probability_color("probability", "gate probability"),
        tooltip=["sample:Q", "regime:N", alt.Tooltip("column:N", title="expert"),
                 alt.Tooltip("probability:Q", title="gate probability", format=".3f")])]
    if grouped:
        layers.append(alt.Chart(table("band")).mark_rect().encode(
            x=x, y=y, color=alt.Color("regime:N", scale=regime_color_scale(regimes),
                                      # below the chart: beside the probability legend it ran off a half-width column
                                      legend=_legend("regime", orient="bottom")),
            tooltip=["sample:Q", "regime:N"]))
        layers.append(alt.Chart(table("band_labels")).mark_text(fontSize=FONT, fontWeight="bold", color="#222222")
                      .encode(x=x, y=y, text="regime:N", tooltip=["regime:N"]))
    chart = alt.layer(*layers).resolve_scale(color="independent")
    return _finish(chart, height)


@_builder
def regime_matrix_chart(regime_matrix, regime_names=None):
    """Expert (y) x regime (x) heatmap of the mean gate probability, value printed in each cell."""
    matrix = np.asarray(regime_matrix if regime_matrix is not None else [], dtype=float)
    if matrix.ndim != 2 or matrix.size == 0:
        return _message("no regime labels for this data set")
    num_experts, num_regimes = matrix.shape  # (E, K)
    regimes = tuple(_regime_name(k, regime_names) for k in range(num_regimes))
    cells = pd.DataFrame({"expert": np.repeat(expert_names(num_experts), num_regimes),
                          "regime": np.tile(regimes, num_experts), "probability": matrix.ravel()})
    return ChartData(_draw_regime_matrix, dict(num_experts=num_experts, regimes=regimes), {"cells": cells})


def _draw_regime_matrix(table, slot, *, num_experts, regimes):
    base = alt.Chart(table("cells")).encode(
        x=alt.X("regime:N", sort=list(regimes), axis=_axis(None, labelAngle=0, orient="top")),
        y=alt.Y("expert:N", sort=expert_names(num_experts), axis=_expert_axis(num_experts, title=None)),
        tooltip=["expert:N", "regime:N", alt.Tooltip("probability:Q", title="mean gate probability",
                                                     format=".3f")])
    cells = base.mark_rect().encode(color=_probability_color("probability", "mean gate probability"))
    # viridis is dark at 0 and yellow at 1: white text on the dark half, black on the bright half
    text = base.mark_text(fontSize=16, fontWeight="bold").encode(
        text=alt.Text("probability:Q", format=".2f"),
        color=alt.condition("datum.probability > 0.5", alt.value("black"), alt.value("white")))
    return _finish(alt.layer(cells, text), 48 * num_experts + 80)


# ---- expert utilisation -------------------------------------------------------------------------

def _shares(expert_load):
    load = np.clip(np.nan_to_num(np.asarray(expert_load, dtype=float)), 0.0, None)  # (E,)
    total = load.sum()
    return load / total if total > 0 else load


def dead_experts(expert_load, threshold=None):
    """Experts whose share of the load is under threshold (default 0.1 / E: 10% of the equal share).
    The rule lives in lfm.store.results, so the charts, the Compare table and the CLI agree."""
    return _results.dead_experts(expert_load, threshold)


@_builder
def utilisation_chart(expert_load, dead_threshold=None):
    """Bars of each expert's share of the gate load, the 1/E equal-share rule, dead experts flagged.

    dead_threshold is a share in [0, 1]; None means 0.1 / E (under 10% of the equal share).
    """
    shares = _shares(expert_load if expert_load is not None else [])
    num_experts = len(shares)
    if num_experts == 0:
        return _message("no expert load logged yet")
    limit = _results.DEAD_SHARE / num_experts if dead_threshold is None else dead_threshold
    dead = set(dead_experts(shares, limit))
    bars = pd.DataFrame({"expert": expert_names(num_experts), "share": shares,
                         "status": ["dead" if e in dead else "active" for e in range(num_experts)]})
    bars["label"] = [f"{s:.0%}" + (" dead" if e in dead else "") for e, s in enumerate(shares)]
    equal = 1.0 / num_experts
    refs = pd.DataFrame({"share": [equal, limit], "label": [f"equal share 1/E = {equal:.0%}",
                                                            f"dead below {limit:.1%}"]})
    return ChartData(_draw_utilisation, dict(num_experts=num_experts),
                     {"bars": bars, "refs": refs, "equal_share": refs.iloc[[0]]},
                     slots={"y_max": max(float(shares.max()), equal) * 1.2})


def _draw_utilisation(table, slot, *, num_experts):
    equal = 1.0 / num_experts
    tooltip = ["expert:N", alt.Tooltip("share:Q", format=".1%", title="share of load"), "status:N"]
    y_scale = alt.Scale(domain=[0, slot("y_max")], nice=False)
    base = alt.Chart(table("bars")).encode(
        x=alt.X("expert:N", sort=expert_names(num_experts), axis=_expert_axis(num_experts, title=None)),
        y=alt.Y("share:Q", scale=y_scale, axis=_axis("share of gate load", format="%")))
    bars = base.mark_bar(stroke=STATUS_TEXT).encode(
        color=alt.Color("expert:N", scale=expert_color_scale(num_experts), legend=None),
        strokeWidth=alt.condition("datum.status == 'dead'", alt.value(2.5), alt.value(0)),
        strokeDash=alt.condition("datum.status == 'dead'", alt.value([5, 3]), alt.value([1, 0])),
        tooltip=tooltip)
    labels = base.mark_text(dy=-10, fontSize=FONT, fontWeight="bold", color=STATUS_TEXT).encode(
        text="label:N", tooltip=tooltip)
    rule_tooltip = ["label:N", alt.Tooltip("share:Q", format=".1%")]
    rules = alt.Chart(table("refs")).mark_rule(strokeWidth=2.5, color=STATUS_TEXT).encode(
        y=alt.Y("share:Q", scale=y_scale),
        strokeDash=alt.condition(alt.datum.share == equal, alt.value([8, 5]), alt.value([2, 3])),
        tooltip=rule_tooltip)
    rule_text = alt.Chart(table("equal_share")).mark_text(align="right", baseline="bottom", dy=-4, fontSize=FONT,
                                                          color=STATUS_TEXT).encode(
        x=alt.value("width"), y=alt.Y("share:Q", scale=y_scale), text="label:N", tooltip=rule_tooltip)
    return _finish(alt.layer(bars, labels, rules, rule_text), 320)


# ---- entropy / varentropy quadrant (entropix) ---------------------------------------------------

_EPS = 1e-12  # p log p -> 0 at p = 0; the clamp keeps log2 finite there


def gate_entropy_bits(probs):
    """Shannon entropy in bits over the last axis. probs (..., E) -> (...)."""
    p = np.asarray(probs, dtype=float)
    return -(p * np.log2(np.clip(p, _EPS, None))).sum(axis=-1)


def gate_varentropy_bits(probs):
    """Variance of the surprisal -log2 p(e) under e ~ p, in bits^2. probs (..., E) -> (...)."""
    p = np.asarray(probs, dtype=float)
    surprisal = -np.log2(np.clip(p, _EPS, None))  # (..., E)
    mean = (p * surprisal).sum(axis=-1, keepdims=True)  # (..., 1) = the entropy
    return (p * (surprisal - mean) ** 2).sum(axis=-1)


@functools.lru_cache(maxsize=None)  # an axis limit: the same for every snapshot of a run
def max_varentropy(num_experts, grid=2001):
    """Largest varentropy over E outcomes: searched over two-level distributions (k equal large values,
    E - k equal small ones), where the maximum lies; a grid is plenty for an axis limit."""
    t = np.linspace(1e-6, 1 - 1e-6, grid)[:, None]  # (T, 1) total mass of the k large entries
    best = 0.0
    for k in range(1, num_experts):
        probs = np.hstack([np.repeat(t / k, k, axis=1), np.repeat((1 - t) / (num_experts - k),
                                                                   num_experts - k, axis=1)])  # (T, E)
        best = max(best, float(gate_varentropy_bits(probs).max()))
    return best


QUADRANT_LABELS = {  # (high entropy?, high varentropy?) -> name, after entropix's sampler states
    (False, False): "confident", (True, False): "evenly unsure",
    (False, True): "a few strong candidates", (True, True): "confused"}


@_builder
def quadrant_chart(probe_gates, probe_labels=None, regime_names=None):
    """Entropy (x, bits) vs varentropy (y, bits²) of each probe sample's gate, with the four quadrants."""
    gates, grouped = _probe(probe_gates, probe_labels)
    if gates is None:
        return _message("no gate snapshot yet")
    num_samples, num_experts = gates.shape  # (P, E)
    idx = np.arange(num_samples)
    if num_samples > MAX_POINTS:
        idx = np.linspace(0, num_samples - 1, MAX_POINTS).round().astype(int)
    points = pd.DataFrame({"sample": idx, "entropy": gate_entropy_bits(gates[idx]),
                           "varentropy": gate_varentropy_bits(gates[idx]),
                           "top expert": [f"expert {e}" for e in gates[idx].argmax(axis=1)],
                           "top probability": gates[idx].max(axis=1)})
    h_max = math.log2(num_experts) if num_experts > 1 else 1.0
    v_max = max(max_varentropy(num_experts), float(points["varentropy"].max()), 1e-3)
    regimes = None
    if grouped:
        labels = np.asarray(probe_labels, dtype=int)
        points["regime"] = [_regime_name(l, regime_names) for l in labels[idx]]
        regimes = tuple(_regime_domain(labels, regime_names))
    tables = {"points": points, "mid": pd.DataFrame({"entropy": [h_max / 2], "varentropy": [v_max / 2],
                                                     "label": ["quadrant lines: middle of each axis"]})}
    for k, ((high_h, high_v), name) in enumerate(QUADRANT_LABELS.items()):  # in the far corner of its quadrant
        tables[f"corner_{k}"] = pd.DataFrame({"entropy": [h_max * (0.98 if high_h else 0.02)],
                                              "varentropy": [v_max * (0.97 if high_v else 0.03)], "label": [name]})
    return ChartData(_draw_quadrant, dict(h_max=h_max, regimes=regimes), tables, slots={"v_max": v_max})


def _draw_quadrant(table, slot, *, h_max, regimes):
    """regimes: the regime colour domain when samples have regime labels, else None."""
    x_scale = alt.Scale(domain=[0, h_max], nice=False, clamp=True)
    y_scale = alt.Scale(domain=[0, slot("v_max")], nice=False)
    tooltip = ["sample:Q", alt.Tooltip("entropy:Q", format=".3f", title="entropy (bits)"),
               alt.Tooltip("varentropy:Q", format=".3f", title="varentropy (bits²)"), "top expert:N",
               alt.Tooltip("top probability:Q", format=".2f")]
    if regimes is not None:
        color = alt.Color("regime:N", scale=regime_color_scale(regimes), legend=_legend("regime"))
        tooltip.insert(1, "regime:N")
    else:
        color = alt.value(EXPERT_PALETTE[0])
    points = alt.Chart(table("points")).mark_circle(size=110, opacity=0.8, stroke=STATUS_TEXT,
                                                    strokeWidth=1).encode(
        x=alt.X("entropy:Q", scale=x_scale, axis=_axis("gate entropy (bits)", tickCount=8)),
        y=alt.Y("varentropy:Q", scale=y_scale, axis=_axis("gate varentropy (bits²)")),
        color=color, tooltip=tooltip)
    mid_rule = alt.Chart(table("mid")).mark_rule(strokeDash=[6, 4], strokeWidth=2, color="#999999")
    lines = [mid_rule.encode(x=alt.X("entropy:Q", scale=x_scale), tooltip=["label:N"]),
             mid_rule.encode(y=alt.Y("varentropy:Q", scale=y_scale), tooltip=["label:N"])]
    names = []
    for k, (high_h, high_v) in enumerate(QUADRANT_LABELS):
        names.append(alt.Chart(table(f"corner_{k}")).mark_text(
            align="right" if high_h else "left", baseline="top" if high_v else "bottom", fontSize=FONT,
            fontWeight="bold", color="#777777").encode(
            x=alt.X("entropy:Q", scale=x_scale), y=alt.Y("varentropy:Q", scale=y_scale), text="label:N",
            tooltip=["label:N"]))
    return _finish(alt.layer(*lines, *names, points), 400)
