"""The look every dashboard chart shares: colours, fonts, axes, legends, the point budget, the SVG renderer.

One home for the conventions of the run charts (ui.run_charts), the lambda-lab charts (ui.lab_charts)
and the Explore charts (ui.explore_charts), so the pages look alike and a change of style is made once:
- readable on a projector: fonts >= 13 px and thick lines, set on each axis, legend and text mark rather
  than in a top-level config, so the charts can still be layered or concatenated by a page;
- one colour per expert in every chart (expert_color_scale), one per metric (SERIES_COLORS), one per
  regime (regime_color_scale), and λ on a diverging scale centred at 0 (lambda_color_scale);
- width="container" and SVG rendering (finish), at most MAX_POINTS data points per chart;
- a series legend never cuts a name: one row above the chart where it fits, one entry per line where not.
Pure Altair: no streamlit, no data.
"""

import math

import altair as alt

MAX_POINTS = 2800  # data points per chart, under the ~3,000 that keep a Vega-Lite chart snappy
FONT, TITLE_FONT = 14, 15  # px; a projector needs >= 13
GREY = "#444444"  # status text, reference rules and labels: a dark grey that no expert has
# usermeta of every chart: SVG whatever the number of marks. Streamlit would switch to canvas above 2,000;
# the browser test counts SVG marks and the chart toolbar exports SVG.
SVG = {"embedOptions": {"renderer": "svg"}}

# d3 category10 (dark enough to read as label text on white), then 10 darker shades; cycles after 20.
EXPERT_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
                  "#31a354", "#756bb1", "#e6550d", "#636363")
# ColorBrewer Set2: pastel, so regime bands and points never read as expert colours.
REGIME_PALETTE = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3")
SERIES_COLORS = {  # metric -> colour, the same in every chart
    "train loss (MSE)": "#222222", "total loss (MSE + λ·H)": "#e6550d", "validation loss": "#3182bd",
    "routing entropy": "#9467bd", "load entropy": "#2ca02c", "specialisation": "#d62728",
    "λ used (right axis)": "#444444"}  # GREY: λ is a setting, not a measurement
HEAT_SCHEME = "viridis"  # sequential scheme for probabilities 0..1
LAMBDA_COLORS = ("#2166ac", "#808080", "#b2182b")  # negative (spread), zero, positive (sharpen)


# ---- colour scales ------------------------------------------------------------------------------

def expert_names(num_experts):
    """The label of each expert, "expert 0" ... "expert E-1": the colour domain of every chart."""
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


def series_scale(names):
    """Metric series name -> its SERIES_COLORS colour, for the series on show."""
    return alt.Scale(domain=list(names), range=[SERIES_COLORS[n] for n in names])


def probability_color(field, title):
    """Sequential colour for a probability: fixed 0..1 so colours mean the same in every snapshot."""
    return alt.Color(f"{field}:Q", scale=alt.Scale(scheme=HEAT_SCHEME, domain=[0, 1]),
                     legend=legend(title, gradientLength=220))


# ---- axes and legends ---------------------------------------------------------------------------

def axis(title=None, **kw):
    """An axis with projector-sized labels and title."""
    return alt.Axis(title=title, labelFontSize=FONT, titleFontSize=TITLE_FONT, **kw)


def step_axis():
    """The x axis of anything drawn against training steps: whole steps, thousands separated."""
    return axis("training step", tickMinStep=1, format=",d")


def expert_axis(num_experts, title="expert", **kw):
    """An axis of expert labels, each printed bold in its expert's colour."""
    return axis(title, labelColor=expert_label_color(num_experts), labelFontWeight="bold", labelAngle=0, **kw)


# Legend layout is done in the browser, and a label's width is known only there: it is estimated here,
# erring wide. The metric names average 0.42-0.46 em in the page's sans-serif (measured in Chromium:
# "validation loss" 88 px at 14 px, "total loss (MSE + λ·H)" 136 px), so 0.5 em leaves ~10 % to spare.
LABEL_EM = 0.5
ENTRY_PX = 36  # a legend entry besides its label (stroke symbol, gaps): measured 32 px in Chromium


def label_width(text, font=FONT):
    """A generous estimate of text's width in px at `font` px (no font metrics on the server)."""
    return math.ceil(len(str(text)) * LABEL_EM * font)


def legend(title=None, orient="top", **kw):
    """A legend with projector-sized text, above the chart unless told otherwise."""
    return alt.Legend(title=title, labelFontSize=FONT, titleFontSize=FONT, orient=orient, **kw)


# How wide a series label may be before Vega-Lite cuts it with "…" (160 px by default): the widest metric
# name, as estimated, so no label is cut whatever its font
SERIES_LABEL_LIMIT = max(label_width(name) for name in SERIES_COLORS)


def legend_row_px(names):
    """The estimated width in px of a series legend's entries side by side."""
    return sum(label_width(name) + ENTRY_PX for name in names)


def series_legend(names, one_row_from=0):
    """Legend of line series (names: those on show): solid strokes, so the faint raw lines do not wash it out.

    It never cuts a name: a label may be as wide as the longest SERIES_COLORS name, and the entries stand in
    one row above the chart only where the plot is wide enough for them (Vega's `width` signal, in px);
    in a narrower one (a half-width column on a laptop) they stand one per line, where a row would run off
    the chart's right edge and be cut there. one_row_from: a plot width below which they stand one per
    line even if their own row would fit, so charts side by side switch together and keep one height."""
    one_row = max(legend_row_px(names), one_row_from)
    return legend(None, symbolType="stroke", symbolStrokeWidth=4, symbolOpacity=1, symbolSize=300,
                  labelLimit=SERIES_LABEL_LIMIT, columns=alt.ExprRef(f"width < {one_row} ? 1 : 0"))


# ---- whole charts -------------------------------------------------------------------------------

def finish(chart, height):
    """The chart as a page shows it: as wide as its column, `height` px tall, drawn as SVG."""
    return chart.properties(width="container", height=height, usermeta=SVG)


def message_chart(data, height=120):
    """A chart holding one line of text (e.g. 'no data yet'), so pages can always draw what a builder returns.

    data: a one-row table with a "message" column (a DataFrame, or a named dataset of a live template).
    """
    chart = alt.Chart(data).mark_text(fontSize=16, color=GREY).encode(text="message:N", tooltip=["message:N"])
    return finish(chart, height)
