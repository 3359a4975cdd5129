"""Charts of the lambda lab (the Compare and Sweep pages): many runs at once, told apart by their λ.

Pure functions, plain data in and an Altair chart out, in the style of ui.chart_style: λ is coloured
with its lambda_color_scale everywhere (grey at 0, blue below, red above, in λ units), curves are
smoothed with ui.reduce's debiased EMA and thinned with its min/max downsample, and each run's
expert × regime matrix is ui.run_charts.regime_matrix_chart. Every chart has tooltips, fonts >= 13 px for
a projector, at most MAX_POINTS data points and the SVG renderer. LAB_EXPLANATIONS holds a caption per chart.
results_column_config dresses lfm.store.results' table for st.dataframe.
"""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from lfm.store import seeds
from lfm.store.results import RESULT_COLUMNS
from ui.chart_style import (GREY, MAX_POINTS, SERIES_COLORS, SVG, TITLE_FONT, axis, finish, lambda_color_scale,
                            legend, message_chart, step_axis)
from ui.reduce import downsample, ema_smooth
from ui.run_charts import regime_matrix_chart
from lfm.store.schema import BITS_METRICS, LOSS_METRICS, METRICS, Metric, RunState

MIN_RUN_POINTS = 40   # never thin one run's curve below this many points, however many runs are shown
# d3 format of λ and balance: up to 3 significant digits (a sweep's grid is rounded to 3), no trailing
# zeros. A bare "g" would let Vega pick the precision from the tick spacing and print 0.25 as "0.3".
LAMBDA_FORMAT = ".3~g"

METRIC_LABELS = {name: METRICS[name].label for name in (*LOSS_METRICS, *BITS_METRICS)}  # column -> axis title
SPARSE_METRICS = (Metric.VAL_LOSS,)  # logged once an epoch: drawn with points, never smoothed

LAB_EXPLANATIONS = {
    "compare_curves_chart": (
        "One line per run, coloured by its λ: grey is λ = 0, red λ > 0 (sharper gates), blue λ < 0 "
        "(spread-out gates); the deeper the colour, the larger |λ|. Lines that stay apart show λ changes "
        "what the model learns; point at a line for its run, λ, balance and seed."),
    "compare_seeds_chart": (
        "One line per setting: the mean over the runs that differ only in their seed, step by step, coloured "
        "by λ (grey λ = 0, red λ > 0, blue λ < 0); the shaded band runs from the lowest seed to the highest "
        "(each run smoothed first). "
        "Where the bands of two settings overlap, the seeds alone could explain the difference; point at a "
        "line for its setting and how many seeds it averages."),
    "sweep_summary_chart": (
        "The what-if answer: each dot is one finished run, placed at its λ; the line joins the mean of the "
        "runs (the seeds) at each λ, and a shaded band spans the lowest to the highest seed, so the dots and the band show how much luck matters. Left: validation "
        "loss, how well the model predicts held-out data. Right: routing entropy (how undecided each "
        "sample's gate is) and specialisation (how much the input decides the expert), in bits. Sharper "
        "gates (λ > 0) lower routing entropy; the question is what that costs or buys in loss."),
    "matrix_small_multiples": (
        "Each panel is one run's expert × regime matrix at the end of training, ordered by λ from left to "
        "right: the average gate probability each regime (column) gives each expert (row). Specialised "
        "experts show one bright cell per column in different rows; a single bright row is collapse onto "
        "one expert; equal columns mean the gate ignores the regime."),
}


def _lambda_color(lambdas):
    """λ in λ units on a gradient legend; the same λ has the same colour in every chart of a page."""
    return alt.Color("lambda_entropy:Q", scale=lambda_color_scale(lambdas),
                     legend=legend("λ (lambda_entropy)", gradientLength=260, format=LAMBDA_FORMAT))


def _message(text, height=120):
    """A chart holding one line of text, for 'nothing to draw yet': pages can always draw the result."""
    return message_chart(pd.DataFrame({"message": [text]}), height)


# ---- curves of several runs ----------------------------------------------------------------------

def _smoothed_runs(df, metric, smoothing):
    """Each run's logged values of `metric` (raw) and their smoothed trend (value), one frame per run.

    Smoothing comes before any thinning or averaging: the EMA must see every logged value. A sparse
    metric (val_loss) and smoothing 0 keep value = raw."""
    sparse = metric in SPARSE_METRICS
    for _, run in df.groupby("run_id", sort=False):
        run = run.loc[run[metric].notna(), ["run_id", "run", "lambda_entropy", "balance_coef", "seed", "step",
                                            *(["setting"] if "setting" in run else []), metric]]
        run = run.rename(columns={metric: "raw"})
        run["value"] = run["raw"] if sparse or smoothing <= 0 else ema_smooth(run["raw"], smoothing).to_numpy()
        yield run


def _no_curves(df, metric):
    return df is None or len(df) == 0 or metric not in df.columns or df[metric].isna().all()


def compare_curves_chart(curves_long_df, metric, smoothing=0.6, height=340):
    """One line per run of `metric` against step, coloured by the run's λ.

    curves_long_df: lfm.store.results.curves(...): columns run_id, run, lambda_entropy, balance_coef, seed,
    step and the metric columns. smoothing: TensorBoard's EMA weight in [0, 1) for dense metrics (the
    raw values stay in the tooltip); val_loss, logged once an epoch, is drawn raw with a point each.
    """
    df = curves_long_df
    if _no_curves(df, metric):
        return _message(f"no {METRIC_LABELS.get(metric, metric)} logged yet by the runs shown", height)
    sparse = metric in SPARSE_METRICS
    budget = max(MIN_RUN_POINTS, MAX_POINTS // df["run_id"].nunique())  # points per run
    lines = pd.concat([downsample(run, max_points=budget) for run in _smoothed_runs(df, metric, smoothing)],
                      ignore_index=True)
    # one hovered run is drawn on top in full; the others fade (names are fixed: a redraw keeps the spec)
    hover = alt.selection_point(name="hover_run", fields=["run_id"], on="pointerover", nearest=True,
                                clear="pointerout")
    tooltip = [alt.Tooltip("run:N"), alt.Tooltip("lambda_entropy:Q", title="λ", format=LAMBDA_FORMAT),
               alt.Tooltip("balance_coef:Q", title="balance", format=LAMBDA_FORMAT), alt.Tooltip("seed:Q"),
               alt.Tooltip("step:Q", format=","), alt.Tooltip("raw:Q", title="value", format=".4f")]
    if not sparse and smoothing > 0:
        tooltip.append(alt.Tooltip("value:Q", title="smoothed", format=".4f"))
    bits = "bits" in METRIC_LABELS.get(metric, "")
    base = alt.Chart(lines).encode(
        x=alt.X("step:Q", axis=step_axis(), scale=alt.Scale(zero=False, nice=False)),
        y=alt.Y("value:Q", axis=axis(METRIC_LABELS.get(metric, metric)), scale=alt.Scale(zero=bits)),
        color=_lambda_color(lines["lambda_entropy"]),
        detail="run_id:N",  # one line per run, even when two runs share a λ
        opacity=alt.condition(hover, alt.value(1.0), alt.value(0.35)),
        tooltip=tooltip)
    chart = base.mark_line(strokeWidth=3).add_params(hover)
    if sparse:  # a dot per logged value, on a colour scale of its own (the same colours) without a
        # legend: sharing the line's would turn the λ gradient legend into sample dots
        dots = base.mark_circle(size=70).encode(
            color=alt.Color("lambda_entropy:Q", scale=lambda_color_scale(lines["lambda_entropy"]), legend=None))
        chart = alt.layer(chart, dots).resolve_scale(color="independent")
    return finish(chart, height)


def _seeds_text(counts) -> str:
    """'2 seeds', or '1–3 seeds' when the settings have different numbers of runs."""
    low, high = min(counts), max(counts)
    return f"{low} seed{'s' * (low != 1)}" if low == high else f"{low}–{high} seeds"


def compare_seeds_chart(curves_long_df, metric, smoothing=0.6, height=340):
    """One mean line per setting of `metric` against step, in a band from its lowest to its highest seed.

    curves_long_df: lfm.store.results.curves(...) with a column "setting" added: the same label for the runs
    that differ only in their seed (lfm.store.seeds.seed_groups / group_labels). Each run is smoothed
    first (as compare_curves_chart), then the runs of a setting are averaged step by step
    (lfm.store.seeds.seed_bands: aligned by step, min–max band). Coloured by λ as compare_curves_chart;
    the legend says how many seeds each line averages.
    """
    df = curves_long_df
    if _no_curves(df, metric):
        return _message(f"no {METRIC_LABELS.get(metric, metric)} logged yet by the runs shown", height)
    sparse = metric in SPARSE_METRICS
    smoothed = pd.concat(list(_smoothed_runs(df, metric, smoothing)), ignore_index=True)
    runs_per_setting = smoothed.groupby("setting")["run_id"].nunique()
    bands = seeds.seed_bands(smoothed, "step", ["value"], by=["setting", "lambda_entropy", "balance_coef"])
    bands["runs"] = bands["setting"].map(runs_per_setting)
    budget = max(MIN_RUN_POINTS, MAX_POINTS // (2 * len(runs_per_setting)))  # a line and a band per setting
    bands = pd.concat([downsample(b, max_points=budget) for _, b in bands.groupby("setting", sort=False)],
                      ignore_index=True)
    tooltip = [alt.Tooltip("setting:N"), alt.Tooltip("step:Q", format=","),
               alt.Tooltip("mean:Q", title=f"mean{' (smoothed)' * (not sparse and smoothing > 0)}", format=".4f"),
               alt.Tooltip("low:Q", title="lowest seed", format=".4f"),
               alt.Tooltip("high:Q", title="highest seed", format=".4f"),
               alt.Tooltip("seeds:Q", title="seeds at this step"), alt.Tooltip("runs:Q", title="runs of the setting")]
    bits = "bits" in METRIC_LABELS.get(metric, "")
    y_scale = alt.Scale(zero=bits)
    title = METRIC_LABELS.get(metric, metric)
    # the line's colour carries the gradient legend; the band and the dots have scales of their own (the
    # same colours) without one, since sharing it would turn the legend into sample symbols
    unlabelled = alt.Color("lambda_entropy:Q", scale=lambda_color_scale(bands["lambda_entropy"]), legend=None)
    base = alt.Chart(bands).encode(x=alt.X("step:Q", axis=step_axis(), scale=alt.Scale(zero=False, nice=False)),
                                   detail="setting:N", tooltip=tooltip)
    line = base.mark_line(strokeWidth=3).encode(
        y=alt.Y("mean:Q", axis=axis(title), scale=y_scale),
        color=alt.Color("lambda_entropy:Q", scale=lambda_color_scale(bands["lambda_entropy"]),
                        legend=legend(f"λ · mean of {_seeds_text(runs_per_setting)}", gradientLength=260,
                                      format=LAMBDA_FORMAT)))
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("low:Q", axis=axis(title), scale=y_scale), y2="high:Q",
                                              color=unlabelled)
    layers = [band, line]
    if sparse:  # a dot per logged epoch, as compare_curves_chart draws them
        layers.append(base.mark_circle(size=70, opacity=1).encode(y=alt.Y("mean:Q", axis=axis(title), scale=y_scale),
                                                                  color=unlabelled))
    return finish(alt.layer(*layers).resolve_scale(color="independent"), height)


# ---- the sweep's summary: final numbers against λ ------------------------------------------------

SUMMARY_BITS = {"routing_entropy": "routing entropy", "specialisation": "specialisation"}  # column -> series


LOG_SPAN = 8  # "auto" reads a grid as logarithmic when its nonzero |λ| span this factor, unevenly spaced


def _lambda_scale(lambdas, x_scale):
    """Linear, or symlog (linear near 0, logarithmic further out) for a grid spanning decades.

    "auto" (the sweep's scale is not stored with its runs) picks symlog when the nonzero |λ| span a
    factor of LOG_SPAN or more, unless they are evenly spaced, as a linear grid's are: -1..1 in 21
    steps spans 0.1 to 1, a factor of 10, in equal steps."""
    magnitudes = sorted({abs(v) for v in lambdas if v != 0})
    if x_scale == "auto":
        steps = np.diff(magnitudes)
        even = len(steps) >= 2 and steps.max() <= 1.1 * steps.min()
        wide = len(magnitudes) >= 2 and magnitudes[-1] / magnitudes[0] >= LOG_SPAN
        x_scale = "symlog" if wide and not even else "linear"
    if x_scale == "symlog":
        return alt.Scale(type="symlog", constant=magnitudes[0] if magnitudes else 1.0, nice=False)
    return alt.Scale(zero=False, nice=False, padding=20)


def sweep_summary_chart(table, x_scale="auto", panel_width=400, height=320):
    """λ (x) against final validation loss (left) and routing entropy + specialisation in bits (right).

    table: lfm.store.results.results_table(...) of the sweep's runs; one dot per finished run, a line through
    the mean at each λ (one line per balance_coef value when the sweep has several). x_scale: "linear",
    "symlog", or "auto" (symlog for a grid that looks logarithmic, see _lambda_scale). Two panels of
    panel_width px (a concatenation cannot stretch to its container) fit a wide page at 1,500 px.
    """
    if table is None or len(table) == 0:
        return _message("no runs in this sweep yet")
    done = table[(table["state"] == RunState.FINISHED) & table["val_loss"].notna()]
    if done.empty:
        return _message("points appear here as the sweep's runs finish")
    runs = done[["run_id", "name", "lambda_entropy", "balance_coef", "seed", "val_loss", *SUMMARY_BITS,
                 "num_experts"]].copy()
    runs["seed"] = runs["seed"].astype(float)  # nullable Int64 -> plain numbers for the JSON spec
    runs["num_experts"] = runs["num_experts"].astype(float)
    runs["balance"] = [f"balance {b:g}" for b in runs["balance_coef"]]
    # the seeds at each (balance, λ): mean, lowest and highest (lfm.store.seeds, as on Compare and Lessons)
    bands = seeds.seed_bands(runs, "lambda_entropy", ["val_loss", *SUMMARY_BITS], by=["balance"])
    seeded = int(bands["seeds"].max()) > 1  # several seeds at some λ: a band spans their lowest to highest
    loss_bands = bands[bands["column"] == "val_loss"]
    bit_bands = bands[bands["column"] != "val_loss"].assign(series=lambda b: b["column"].map(SUMMARY_BITS))
    lambdas = sorted(runs["lambda_entropy"].unique())
    scale = _lambda_scale(lambdas, x_scale)
    # tick marks at the grid's own λ values while there are few enough to read
    x = alt.X("lambda_entropy:Q", scale=scale,
              axis=axis("λ (lambda_entropy)", values=lambdas if len(lambdas) <= 9 else alt.Undefined,
                        format=LAMBDA_FORMAT, labelOverlap=True))
    several_balances = runs["balance"].nunique() > 1
    dash = (alt.StrokeDash("balance:N", legend=legend("balance_coef")) if several_balances
            else alt.value([1, 0]))
    point_tooltip = [alt.Tooltip("name:N", title="run"),
                     alt.Tooltip("lambda_entropy:Q", title="λ", format=LAMBDA_FORMAT),
                     alt.Tooltip("balance_coef:Q", title="balance", format=LAMBDA_FORMAT), alt.Tooltip("seed:Q")]
    mean_tooltip = [alt.Tooltip("lambda_entropy:Q", title="λ", format=LAMBDA_FORMAT), "balance:N",
                    alt.Tooltip("seeds:Q", title="runs averaged")]
    spread_tooltip = [alt.Tooltip("low:Q", title="lowest seed", format=".4f"),
                      alt.Tooltip("high:Q", title="highest seed", format=".4f")]

    # left: validation loss
    loss_color = SERIES_COLORS["validation loss"]

    def loss_y(field):  # every layer names the axis: Vega-Lite would otherwise title it with all the fields
        return alt.Y(field, scale=alt.Scale(zero=False), axis=axis("final validation loss"))

    loss = alt.layer(
        alt.Chart(loss_bands).mark_line(strokeWidth=3, color=loss_color).encode(
            x=x, y=loss_y("mean:Q"), strokeDash=dash,
            tooltip=[*mean_tooltip, alt.Tooltip("mean:Q", title="mean validation loss", format=".4f")]),
        alt.Chart(runs).mark_circle(size=130, opacity=0.85, color=loss_color, stroke="white",
                                    strokeWidth=1).encode(
            x=x, y=loss_y("val_loss:Q"),
            tooltip=[*point_tooltip, alt.Tooltip("val_loss:Q", title="validation loss", format=".4f")]),
        *([alt.Chart(loss_bands).mark_area(opacity=0.18, color=loss_color).encode(
            x=x, y=loss_y("low:Q"), y2="high:Q", detail="balance:N",
            tooltip=[*mean_tooltip, *spread_tooltip])] if seeded else []),
    ).properties(title=alt.Title("Validation loss (lower is better)", fontSize=TITLE_FONT),
                 width=panel_width, height=height)

    # right: the two entropies; the runs' dots folded from their table into one row per run and series
    series = alt.Color("series:N", scale=alt.Scale(domain=list(SUMMARY_BITS.values()),
                                                   range=[SERIES_COLORS[s] for s in SUMMARY_BITS.values()]),
                       legend=legend(None, symbolType="circle", symbolSize=200, orient="bottom"))
    num_experts = runs["num_experts"].dropna().unique()
    top = math.log2(num_experts[0]) if len(num_experts) == 1 and num_experts[0] > 1 else None
    bits_scale = alt.Scale(domain=[0, top * 1.05], nice=False) if top else alt.Scale(zero=True)

    def bits_y(field):
        return alt.Y(field, axis=axis("bits"), scale=bits_scale)

    bit_layers = [
        alt.Chart(bit_bands).mark_line(strokeWidth=3).encode(
            x=x, y=bits_y("mean:Q"), color=series, detail="balance:N",
            strokeDash=dash,
            tooltip=[*mean_tooltip, "series:N", alt.Tooltip("mean:Q", title="mean (bits)", format=".3f")]),
        alt.Chart(runs).mark_circle(size=130, opacity=0.85, stroke="white", strokeWidth=1)
        .transform_fold(list(SUMMARY_BITS), as_=["column", "bits"])
        .transform_calculate(series="datum.column == 'specialisation' ? 'specialisation' : 'routing entropy'")
        .encode(x=x, y=bits_y("bits:Q"), color=series,
                tooltip=[*point_tooltip, "series:N", alt.Tooltip("bits:Q", format=".3f")]),
    ]
    if seeded:  # each series' band over the seeds
        bit_layers.append(alt.Chart(bit_bands).mark_area(opacity=0.18).encode(
            x=x, y=bits_y("low:Q"), y2="high:Q", color=series, detail="balance:N",
            tooltip=[*mean_tooltip, "series:N", *spread_tooltip]))
    if top:  # the ceiling log2(E): every sample's gate spread evenly over all experts
        ceiling = pd.DataFrame({"bits": [top], "label": [f"log2(E) = {top:.2f} bits (max)"]})
        bit_layers.append(alt.Chart(ceiling).mark_rule(strokeDash=[8, 5], strokeWidth=2, color=GREY)
                          .encode(y=alt.Y("bits:Q", scale=bits_scale), tooltip=["label:N"]))
    bits = alt.layer(*bit_layers).properties(
        title=alt.Title("Gate entropies at the end (bits)", fontSize=TITLE_FONT), width=panel_width, height=height)
    return alt.hconcat(loss, bits, spacing=40).resolve_scale(color="independent").properties(usermeta=SVG)


# ---- expert × regime matrices, side by side -------------------------------------------------------

def matrix_small_multiples(matrices, lambdas, regime_names, labels=None, columns=None, total_width=1000):
    """Each run's expert × regime matrix (ui.run_charts.regime_matrix_chart) side by side, ordered by λ.

    matrices: one (E, K) nested list per run (mean gate probability; each column sums to 1); lambdas:
    each run's λ; regime_names: the K regime names; labels: a title per panel (default "λ = ...").
    Wraps after `columns` panels; by default as many as fit in total_width px.
    """
    pairs = [(lam, k) for k, (lam, m) in enumerate(zip(lambdas, matrices)) if m is not None and np.size(m)]
    if not pairs:
        return _message("none of these runs has an expert × regime matrix (their data has no regime labels)")
    panels = []
    for lam, k in sorted(pairs, key=lambda pair: pair[0]):  # stable: equal λ keep the caller's order
        num_experts, num_regimes = np.shape(matrices[k])
        title = labels[k] if labels is not None else f"λ = {lam:g}"
        panel = regime_matrix_chart(matrices[k], regime_names)
        panel.usermeta = alt.Undefined  # the renderer option belongs on the top level only
        width = max(150, 58 * num_regimes)  # 58 px: room for "0.25" at 16 px and "sawtooth" at 14 px
        panels.append(panel.properties(title=alt.Title(title, fontSize=TITLE_FONT), width=width,
                                       height=44 * num_experts))
    if columns is None:  # each panel also carries its expert labels (~76 px) and the spacing (24 px)
        columns = max(1, total_width // (width + 100))
    # one colour legend for all: every panel maps probability 0..1 to the same colours
    chart = alt.concat(*panels, columns=columns, spacing=24).resolve_scale(color="shared")
    return chart.properties(usermeta=SVG)


# ---- the results table ---------------------------------------------------------------------------

RESULT_FORMATS = {"lambda_entropy": "%g", "balance_coef": "%g", "val_loss": "%.4f", "loss": "%.4f",
                  "routing_entropy": "%.3f", "load_entropy": "%.3f", "specialisation": "%.3f",
                  "mi_regime": "%.3f", "train_time_s": "%.1f"}


def results_column_config():
    """st.dataframe's column_config for lfm.store.results.results_table: each column's help, numbers formatted.

    Builds Streamlit's config objects and draws nothing; streamlit is imported here only, so the chart
    builders above stay usable without it (scripts, notebooks)."""
    from streamlit import column_config

    config = {name: column_config.Column(help=text) for name, text in RESULT_COLUMNS.items()}
    config.update({name: column_config.NumberColumn(help=RESULT_COLUMNS[name], format=fmt)
                   for name, fmt in RESULT_FORMATS.items()})
    return config
