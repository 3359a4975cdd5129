"""The seven charts of one run (the Train & watch and Runs pages): plain data in, Altair chart or Vega-Lite dict out.

  loss_chart           training, total and validation loss against step, λ changes marked
  entropy_chart        routing entropy, load entropy and specialisation against step, under log2(E); the
                       λ each step used on a right-hand axis when it varies (a λ schedule, λ while training)
  gate_load_heatmap    expert x step: the mean gate probability, averaged in step bins
  probe_heatmap        probe sample x expert: each fixed probe sample's gate, grouped by regime
  regime_matrix_chart  expert x regime: the mean gate probability each regime gives each expert
  utilisation_chart    each expert's share of the load, dead experts flagged
  quadrant_chart       entropy x varentropy of each probe sample's gate (after entropix)

Pure functions (no streamlit, no I/O), so pages stay thin and each chart is tested by validating its
Vega-Lite spec. They follow ui.chart_style (fonts, colours, SVG) and stay under MAX_POINTS data points
whatever the run length (ui.reduce). Each builder returns an Altair chart; live_spec(name, ...) gives the
same chart as a Vega-Lite dict for pages that redraw every second, at the cost of the data step alone
(ui.templates). Entropies are in bits, computed by lfm.nn.entropy, the formulas the
training loop logs; EXPLANATIONS holds a plain-language caption per chart.
"""
import functools
import math

import altair as alt
import numpy as np
import pandas as pd
import torch

from lfm.nn.entropy import compute_entropy, varentropy
from lfm.store.results import DEAD_SHARE, dead_experts
from ui.chart_style import (EXPERT_PALETTE, FONT, GREY, MAX_POINTS, axis, expert_axis, expert_color_scale,
                            expert_names, finish, legend, legend_row_px, message_chart, probability_color,
                            regime_color_scale, series_legend, series_scale, step_axis)
from ui.reduce import downsample, evenly_spaced, long_series
from ui.templates import ChartData, chart_builder

MAX_EVENTS = 50  # lambda-change rules drawn per chart (the latest ones)
LAMBDA_POINTS = 300  # points of the effective-λ line of the entropy chart, out of its MAX_POINTS

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
        "onto a few experts. When λ varies during the run (a λ schedule, or λ changed while training), "
        "the grey dotted line is the λ each step used, read on the right-hand axis."),
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
        "(its name at the top right) is the equal share 1/E. Experts below the dotted threshold (by default 10% of the equal share) "
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


def _message(text, height=120):
    """Placeholder (e.g. 'no data yet') so pages can always render what a builder returns."""
    return ChartData(_draw_message, {"height": height}, {"message": pd.DataFrame({"message": [text]})})


def _draw_message(table, slot, *, height):
    return message_chart(table("message"), height)


# ---- line charts over training steps ------------------------------------------------------------

def _line_layers(lines, colors, y_title, y_scale, smoothed):
    """Faint raw lines, thick smoothed lines (or thick raw lines without smoothing), and a hover rule
    showing the nearest step's values. lines: a ui.reduce.long_series table; colors: its series scale."""
    base = alt.Chart(lines).encode(
        x=alt.X("step:Q", axis=step_axis(), scale=alt.Scale(zero=False, nice=False)),
        color=alt.Color("series:N", scale=colors, legend=series_legend(colors.domain, PAIR_LEGEND_PX)))
    tooltip = ["series:N", alt.Tooltip("step:Q", format=","), alt.Tooltip("raw:Q", format=".4f", title="value")]
    if smoothed:
        tooltip.insert(2, alt.Tooltip("smoothed:Q", format=".4f"))
    main = alt.Y("smoothed:Q" if smoothed else "raw:Q", scale=y_scale, axis=axis(y_title))
    layers = []
    if smoothed:  # without smoothing there is no trend: the raw line is drawn thick instead
        layers.append(base.mark_line(strokeWidth=1.5, opacity=0.3).encode(
            y=alt.Y("raw:Q", scale=y_scale, axis=axis(y_title)), tooltip=tooltip))
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


def _event_layers(events, color=GREY):
    """Dashed vertical rule and a "lambda -> v" label at each lambda change (events: _event_table's)."""
    tooltip = [alt.Tooltip("step:Q", format=","), alt.Tooltip("value:Q", title="new lambda")]
    rule = alt.Chart(events).mark_rule(strokeDash=[6, 4], strokeWidth=2, color=color).encode(
        x="step:Q", tooltip=tooltip)
    text = alt.Chart(events).mark_text(align="left", dx=5, fontSize=FONT, fontWeight="bold",
                                       color=GREY).encode(x="step:Q", y=alt.value(12), text="label:N",
                                                          tooltip=tooltip)
    return [rule, text]


def _with_events(tables, events):
    """tables plus the "events" table when there are lambda changes; and whether there are."""
    table = _event_table(events)
    return ({**tables, "events": table} if table is not None else tables), table is not None


LOSS_SERIES = {"loss": "train loss (MSE)", "total_loss": "total loss (MSE + λ·H)"}  # column -> series name
ENTROPY_SERIES = {"routing_entropy": "routing entropy", "load_entropy": "load entropy",
                  "specialisation": "specialisation"}
LAMBDA_SERIES = "λ used (right axis)"
# Loss and entropy stand side by side on a page (ui.live.LAYOUT): their legends go from one row to one
# entry per line at the same plot width, so the two plots keep one height
PAIR_LEGEND_PX = max(legend_row_px([*LOSS_SERIES.values(), "validation loss"]),
                     legend_row_px(ENTROPY_SERIES.values()))


def _lambda_curve(df):
    """(step, lambda_entropy, series) of the λ each logged step used, when it varies over the run (a
    schedule, or λ changed while training); None while it is constant, where the curve would add nothing."""
    if "lambda_entropy" not in df.columns:
        return None
    lam = df[["step", "lambda_entropy"]].dropna()
    if lam["lambda_entropy"].nunique() < 2:
        return None
    return downsample(lam, max_points=LAMBDA_POINTS).assign(series=LAMBDA_SERIES)


@chart_builder
def loss_chart(df, smoothing=0.6, events=None, log_y=False, height=340, max_points=MAX_POINTS):
    """Primary (MSE), total and validation loss against step; lambda changes as vertical rules.
    max_points: the data points it may draw (at least 1,000; a live page asks for fewer, ui.live)."""
    if df is None or len(df) == 0 or "loss" not in df.columns:
        return _message("no loss logged yet")
    long = long_series(df, LOSS_SERIES, smoothing, budget=max_points - 400)  # 300 validation points + slack
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
    colors = series_scale([*LOSS_SERIES.values(), "validation loss"])
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    y_title = "loss (log scale)" if log_y else "loss"
    layers = _line_layers(table("lines"), colors, y_title, y_scale, smoothed)
    if validation:
        layers.append(alt.Chart(table("validation"))
                      .mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=80, filled=True))
                      .encode(x="step:Q", y=alt.Y("val_loss:Q", scale=y_scale, axis=axis(y_title)),
                              color=alt.Color("series:N", scale=colors,
                                              legend=series_legend(colors.domain, PAIR_LEGEND_PX)),
                              tooltip=[alt.Tooltip("step:Q", format=","),
                                       alt.Tooltip("val_loss:Q", title="validation loss", format=".4f")]))
    return finish(alt.layer(*layers, *(_event_layers(table("events")) if events else [])), height)


@chart_builder
def entropy_chart(df, num_experts, smoothing=0.0, events=None, height=340, max_points=MAX_POINTS):
    """Routing entropy, load entropy and specialisation (bits) against step, under the log2(E) ceiling.
    max_points: the data points it may draw (at least 1,000; a live page asks for fewer, ui.live)."""
    if df is None or len(df) == 0 or "routing_entropy" not in df.columns:
        return _message("no entropies logged yet")
    h_max = math.log2(num_experts) if num_experts > 1 else 1.0
    lam = _lambda_curve(df)
    budget = max_points if lam is None else max_points - LAMBDA_POINTS
    tables = {"lines": long_series(df, ENTROPY_SERIES, smoothing, budget=budget),
              "ceiling": pd.DataFrame({"bits": [h_max], "label": [f"log2(E) = {h_max:.2f} bits (max)"]})}
    if lam is not None:
        tables["lambda"] = lam
    tables, has_events = _with_events(tables, events)
    return ChartData(_draw_entropy, dict(h_max=h_max, smoothed=smoothing > 0, events=has_events,
                                         lambda_curve=lam is not None, height=height), tables)


def _draw_entropy(table, slot, *, h_max, smoothed, events, lambda_curve, height):
    y_scale = alt.Scale(domain=[0, h_max * 1.08], nice=False, clamp=True)
    colors = series_scale([*ENTROPY_SERIES.values(), *([LAMBDA_SERIES] if lambda_curve else [])])
    layers = _line_layers(table("lines"), colors, "bits", y_scale, smoothed)
    tooltip = ["label:N"]
    layers.append(alt.Chart(table("ceiling")).mark_rule(strokeDash=[8, 5], strokeWidth=2.5, color=GREY)
                  .encode(y=alt.Y("bits:Q", scale=y_scale), tooltip=tooltip))
    layers.append(alt.Chart(table("ceiling")).mark_text(align="left", baseline="bottom", dx=6, dy=-4,
                                                        fontSize=FONT, color=GREY)
                  .encode(x=alt.value(0), y=alt.Y("bits:Q", scale=y_scale), text="label:N", tooltip=tooltip))
    chart = alt.layer(*layers, *(_event_layers(table("events")) if events else []))
    if lambda_curve:  # λ has its own scale: the entropies' layers share the bits axis, λ gets the right one
        chart = alt.layer(chart, _lambda_layer(table("lambda"), colors)).resolve_scale(y="independent")
    return finish(chart, height)


def _lambda_layer(lam, colors):
    """The λ each step used (lambda_entropy of metrics.csv) as a dotted line on a right-hand axis."""
    return alt.Chart(lam).mark_line(strokeWidth=2.5, strokeDash=[2, 3]).encode(
        x=alt.X("step:Q", axis=step_axis(), scale=alt.Scale(zero=False, nice=False)),
        y=alt.Y("lambda_entropy:Q", scale=alt.Scale(zero=True), axis=axis("λ used", orient="right", grid=False)),
        color=alt.Color("series:N", scale=colors, legend=series_legend(colors.domain, PAIR_LEGEND_PX)),
        tooltip=[alt.Tooltip("step:Q", format=","), alt.Tooltip("lambda_entropy:Q", title="λ used", format=".4g")])


# ---- heatmaps -----------------------------------------------------------------------------------

@chart_builder
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
        x=alt.X("step_start:Q", axis=step_axis(), scale=alt.Scale(zero=False, nice=False)),
        x2="step_end:Q",
        y=alt.Y("expert:N", sort=expert_names(num_experts), axis=expert_axis(num_experts, title=None)),
        color=probability_color("load", "mean gate probability"),
        tooltip=["steps:N", "expert:N", alt.Tooltip("load:Q", title="mean gate probability", format=".3f")])
    rules = _event_layers(table("events"), color="white")[:1] if events else []  # labels would cover cells
    # Streamlit fits legend and axes inside the height too: ~170 px of them, then >= 36 px per expert row
    # so every expert's label fits (Vega drops labels that would overlap)
    return finish(alt.layer(heat, *rules), 36 * num_experts + 170)


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


@chart_builder
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
        order = order[evenly_spaced(num_samples, keep)]
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
    y = alt.Y("rank:O", axis=axis("probe samples, grouped by regime" if grouped else "probe samples",
                                  labels=False, ticks=False))
    x = alt.X("column:N", sort=columns, scale=alt.Scale(domain=columns),
              axis=expert_axis(num_experts, title=None, orient="top"))
    layers = [alt.Chart(table("cells")).mark_rect().encode(
        x=x, y=y, color=probability_color("probability", "gate probability"),
        tooltip=["sample:Q", "regime:N", alt.Tooltip("column:N", title="expert"),
                 alt.Tooltip("probability:Q", title="gate probability", format=".3f")])]
    if grouped:
        layers.append(alt.Chart(table("band")).mark_rect().encode(
            x=x, y=y, color=alt.Color("regime:N", scale=regime_color_scale(regimes),
                                      # below the chart: beside the probability legend it ran off a half-width column
                                      legend=legend("regime", orient="bottom")),
            tooltip=["sample:Q", "regime:N"]))
        layers.append(alt.Chart(table("band_labels")).mark_text(fontSize=FONT, fontWeight="bold", color="#222222")
                      .encode(x=x, y=y, text="regime:N", tooltip=["regime:N"]))
    chart = alt.layer(*layers).resolve_scale(color="independent")
    return finish(chart, height)


@chart_builder
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
        x=alt.X("regime:N", sort=list(regimes), axis=axis(None, labelAngle=0, orient="top", labelOverlap=False)),
        y=alt.Y("expert:N", sort=expert_names(num_experts), axis=expert_axis(num_experts, title=None)),
        tooltip=["expert:N", "regime:N", alt.Tooltip("probability:Q", title="mean gate probability",
                                                     format=".3f")])
    cells = base.mark_rect().encode(color=probability_color("probability", "mean gate probability"))
    # viridis is dark at 0 and yellow at 1: white text on the dark half, black on the bright half
    text = base.mark_text(fontSize=16, fontWeight="bold").encode(
        text=alt.Text("probability:Q", format=".2f"),
        color=alt.condition("datum.probability > 0.5", alt.value("black"), alt.value("white")))
    return finish(alt.layer(cells, text), 48 * num_experts + 80)


# ---- expert utilisation -------------------------------------------------------------------------

Y_MAX_STEP = 0.05  # the utilisation chart's axis top moves in steps of 5 percentage points


def _shares(expert_load):
    load = np.clip(np.nan_to_num(np.asarray(expert_load, dtype=float)), 0.0, None)  # (E,)
    total = load.sum()
    return load / total if total > 0 else load


@chart_builder
def utilisation_chart(expert_load, dead_threshold=None):
    """Bars of each expert's share of the gate load, the 1/E equal-share rule, dead experts flagged.

    dead_threshold is a share in [0, 1]; None means 0.1 / E (under 10% of the equal share).
    """
    shares = _shares(expert_load if expert_load is not None else [])
    num_experts = len(shares)
    if num_experts == 0:
        return _message("no expert load logged yet")
    limit = DEAD_SHARE / num_experts if dead_threshold is None else dead_threshold
    dead = set(dead_experts(shares, limit))
    bars = pd.DataFrame({"expert": expert_names(num_experts), "share": shares,
                         "status": ["dead" if e in dead else "active" for e in range(num_experts)]})
    bars["label"] = [f"{s:.0%}" + (" dead" if e in dead else "") for e, s in enumerate(shares)]
    equal = 1.0 / num_experts
    refs = pd.DataFrame({"share": [equal, limit], "label": [f"equal share 1/E = {equal:.0%}",
                                                            f"dead below {limit:.1%}"]})
    # the axis top, a fifth above the tallest bar, rounded up to a whole Y_MAX_STEP: a live page redraws
    # this chart every second, and the browser swaps the data of a chart whose spec text is unchanged
    # but rebuilds one whose axis moved (bench/bench_load.py: it was the one chart rebuilt every refresh)
    y_max = math.ceil(max(float(shares.max()), equal) * 1.2 / Y_MAX_STEP - 1e-9) * Y_MAX_STEP
    return ChartData(_draw_utilisation, dict(num_experts=num_experts),
                     {"bars": bars, "refs": refs, "equal_share": refs.iloc[[0]]}, slots={"y_max": y_max})


def _draw_utilisation(table, slot, *, num_experts):
    equal = 1.0 / num_experts
    tooltip = ["expert:N", alt.Tooltip("share:Q", format=".1%", title="share of load"), "status:N"]
    y_scale = alt.Scale(domain=[0, slot("y_max")], nice=False)
    base = alt.Chart(table("bars")).encode(
        x=alt.X("expert:N", sort=expert_names(num_experts), axis=expert_axis(num_experts, title=None)),
        y=alt.Y("share:Q", scale=y_scale, axis=axis("share of gate load", format="%")))
    bars = base.mark_bar(stroke=GREY).encode(
        color=alt.Color("expert:N", scale=expert_color_scale(num_experts), legend=None),
        strokeWidth=alt.condition("datum.status == 'dead'", alt.value(2.5), alt.value(0)),
        strokeDash=alt.condition("datum.status == 'dead'", alt.value([5, 3]), alt.value([1, 0])),
        tooltip=tooltip)
    labels = base.mark_text(dy=-10, fontSize=FONT, fontWeight="bold", color=GREY).encode(
        text="label:N", tooltip=tooltip)
    rule_tooltip = ["label:N", alt.Tooltip("share:Q", format=".1%")]
    rules = alt.Chart(table("refs")).mark_rule(strokeWidth=2.5, color=GREY).encode(
        y=alt.Y("share:Q", scale=y_scale),
        strokeDash=alt.condition(alt.datum.share == equal, alt.value([8, 5]), alt.value([2, 3])),
        tooltip=rule_tooltip)
    # the dashed line's name sits in the plot's top-right corner, above every bar's label (y_max leaves
    # a fifth of the height free): on the line itself it ran into the label of a bar at the equal share
    rule_text = alt.Chart(table("equal_share")).mark_text(align="right", baseline="top", fontSize=FONT,
                                                          color=GREY).encode(
        x=alt.value("width"), y=alt.value(0), text="label:N", tooltip=rule_tooltip)
    return finish(alt.layer(bars, labels, rules, rule_text), 320)


# ---- entropy / varentropy quadrant (entropix) ---------------------------------------------------

def gate_bits(probs):
    """Entropy (bits) and varentropy (bits²) of each gate: probs (N, E) -> two (N,) float64 arrays.

    Computed by lfm.nn.entropy, the formulas the training loop logs, so the quadrant and the entropy
    curves can never disagree. torch.from_numpy shares the array's memory and keeps float64; on a probe
    batch (~64 x E) that costs tens of microseconds."""
    p = torch.from_numpy(np.ascontiguousarray(probs, dtype=np.float64))  # (N, E)
    return compute_entropy(p).numpy(), varentropy(p).numpy()


@functools.lru_cache(maxsize=None)  # an axis limit: the same for every snapshot of a run
def max_varentropy(num_experts, grid=2001):
    """Largest varentropy over E outcomes: searched over two-level distributions (k equal large values,
    E - k equal small ones), where the maximum lies; a grid is plenty for an axis limit."""
    t = np.linspace(1e-6, 1 - 1e-6, grid)[:, None]  # (T, 1) total mass of the k large entries
    best = 0.0
    for k in range(1, num_experts):
        probs = np.hstack([np.repeat(t / k, k, axis=1), np.repeat((1 - t) / (num_experts - k),
                                                                   num_experts - k, axis=1)])  # (T, E)
        best = max(best, float(gate_bits(probs)[1].max()))
    return best


QUADRANT_LABELS = {  # (high entropy?, high varentropy?) -> name, after entropix's sampler states
    (False, False): "confident", (True, False): "evenly unsure",
    (False, True): "a few strong candidates", (True, True): "confused"}


@chart_builder
def quadrant_chart(probe_gates, probe_labels=None, regime_names=None):
    """Entropy (x, bits) vs varentropy (y, bits²) of each probe sample's gate, with the four quadrants."""
    gates, grouped = _probe(probe_gates, probe_labels)
    if gates is None:
        return _message("no gate snapshot yet")
    num_samples, num_experts = gates.shape  # (P, E)
    idx = np.arange(num_samples)
    if num_samples > MAX_POINTS:
        idx = evenly_spaced(num_samples, MAX_POINTS)
    entropy_bits, varentropy_bits = gate_bits(gates[idx])  # (P',) each
    points = pd.DataFrame({"sample": idx, "entropy": entropy_bits, "varentropy": varentropy_bits,
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
        color = alt.Color("regime:N", scale=regime_color_scale(regimes), legend=legend("regime"))
        tooltip.insert(1, "regime:N")
    else:
        color = alt.value(EXPERT_PALETTE[0])
    points = alt.Chart(table("points")).mark_circle(size=110, opacity=0.8, stroke=GREY,
                                                    strokeWidth=1).encode(
        x=alt.X("entropy:Q", scale=x_scale, axis=axis("gate entropy (bits)", tickCount=8)),
        y=alt.Y("varentropy:Q", scale=y_scale, axis=axis("gate varentropy (bits²)")),
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
    return finish(alt.layer(*lines, *names, points), 400)


# ---- the charts by name, and as live Vega-Lite dicts --------------------------------------------

# name -> builder: the names ui.live's chart calls carry (also EXPLANATIONS' keys)
BUILDERS = {builder.__name__: builder for builder in (loss_chart, entropy_chart, gate_load_heatmap, probe_heatmap,
                                                      regime_matrix_chart, utilisation_chart, quadrant_chart)}


def live_spec(name, *args, **kwargs):
    """Chart `name` (a builder's name, e.g. "loss_chart", with that builder's arguments) as a Vega-Lite
    dict for st.vega_lite_chart(spec, width="stretch"), for redraws every second.

    Same marks, encodings and data as the builder's Altair chart, but it costs only the data step (a few
    ms): the structure comes from a template built once per chart shape (ui.templates). spec["datasets"]
    holds the DataFrames themselves; ui.templates.with_records() turns them into plain JSON rows.
    """
    return BUILDERS[name].data_step(*args, **kwargs).spec()
