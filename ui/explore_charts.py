"""Charts of the Explore page, and any chart as an SVG file: plain arrays in, Altair chart (or bytes) out.

Pure functions (no streamlit, no I/O), in the style of ui.chart_style so the pages look alike:
fonts >= 13 px set on every axis and legend (readable on a projector), tooltips on every mark,
width="container", SVG rendering, and the same colour for an expert everywhere (expert_color_scale).
The builders:
  gate_bars           one bar per expert for each of a few samples: the gate distribution, chosen marked
  prediction_chart    one feature of a window: true values against the model's next-step predictions
  blend_chart         one feature of inputs A and B and their blend (1-t)·A + t·B, what the model is fed at t
  interpolation_chart the gate's probabilities (one line per expert) and entropy along t from A to B
and svg_bytes(chart), which renders any chart, this module's or ui.run_charts', to an SVG file on the
server with vl-convert (Streamlit's chart toolbar offers PNG only; see svg_bytes).
"""

import importlib.util
import math

import altair as alt
import numpy as np
import pandas as pd

from ui.chart_style import FONT, GREY, axis, expert_color_scale, expert_names, finish, legend

LABEL_BARS_UP_TO = 32  # print each bar's probability while there are at most this many bars
# Lines that are not experts get colours outside the experts' first ten (chart_style.EXPERT_PALETTE).
SEQUENCE_COLORS = {"true values": "#222222", "prediction": "#e6550d",
                   "input A": "#1b9e77", "input B": "#7570b3", "blend": "#222222"}
ENTROPY_COLOR = GREY  # a dark grey no expert has (routing entropy's purple is expert 4's colour)
SVG_EXPORT_AVAILABLE = importlib.util.find_spec("vl_convert") is not None

EXPLANATIONS = {  # a plain-language caption per chart, for students
    "gate_bars": (
        "For each sample, the gate's probability for every expert (the bars of a sample sum to 1). The "
        "outlined bar is the chosen expert, the one with the largest share; the dashed line is the equal "
        "share 1/E of an undecided gate. Tall single bars mean a confident gate; a trained gate that "
        "specialises gives samples of different regimes different experts."),
    "prediction_chart": (
        "The window's true values (solid) and the model's prediction of each next step (dashed). At every "
        "position the model predicts the value one step later; only the last step (shaded) lies beyond the "
        "input window. Token mixing is causal, so each prediction uses only the steps up to its own "
        "position; the one exception is the gate's summary, the mean of the whole window."),
    "interpolation_chart": (
        "We feed the model the blend (1 − t)·A + t·B of the two samples, for t from 0 (exactly A) to 1 "
        "(exactly B). The solid lines are each expert's gate probability along the way; the dashed line is "
        "the gate's entropy in bits (right axis, up to log2(E), all experts equal). A sharp switch from one "
        "expert to another is a gate that has learned a boundary between the two kinds of input; entropy "
        "peaks where it is unsure."),
    "blend_chart": (
        "What the model is fed at the slider's t: the two samples (dashed) and their blend (solid). The "
        "gate sees only a summary of the window's mean, and the blend's mean is the blend of the means, "
        "so moving t walks in a straight line through what the gate sees."),
}


# ---- the slider's position ----------------------------------------------------------------------

def _rule_at(t, color="#999999"):
    """A solid vertical rule at x = t (the slider's position), or None."""
    if t is None:
        return None
    return alt.Chart(pd.DataFrame({"t": [float(t)]})).mark_rule(color=color, size=3).encode(
        x="t:Q", tooltip=[alt.Tooltip("t:Q", title="t (slider)", format=".2f")])


# ---- the gate of a few samples ------------------------------------------------------------------

def gate_bars(gate_probs, sample_names, height=300):
    """Grouped bars: for each sample (x) one bar per expert (colour), height = gate probability.

    gate_probs (N, E); sample_names N distinct labels in display order. The chosen expert (largest
    probability) has a dark outline; the dashed line is the equal share 1/E of an undecided gate."""
    probs = np.asarray(gate_probs, dtype=float)  # (N, E)
    num_samples, num_experts = probs.shape
    names = list(sample_names)
    experts = expert_names(num_experts)
    chosen = probs.argmax(axis=1)  # (N,)
    table = pd.DataFrame({
        "sample": np.repeat(names, num_experts), "expert": np.tile(experts, num_samples),
        "probability": probs.ravel(),  # (N * E,) sample-major, matching np.repeat / np.tile
        "chosen": (np.arange(num_experts)[None, :] == chosen[:, None]).ravel()})
    base = alt.Chart(table).encode(
        x=alt.X("sample:N", sort=names, axis=axis(None, labelAngle=0, labelLimit=220)),
        xOffset=alt.XOffset("expert:N", sort=experts),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=axis("gate probability")),
        tooltip=["sample:N", "expert:N", alt.Tooltip("probability:Q", format=".3f"),
                 alt.Tooltip("chosen:N", title="chosen expert")])
    bars = base.mark_bar().encode(
        color=alt.Color("expert:N", scale=expert_color_scale(num_experts), legend=legend(None)),
        stroke=alt.condition("datum.chosen", alt.value("#222222"), alt.value(None)),
        strokeWidth=alt.condition("datum.chosen", alt.value(3), alt.value(0)))
    layers = [bars]
    if num_samples * num_experts <= LABEL_BARS_UP_TO:
        layers.append(base.mark_text(dy=-10, fontSize=FONT - 1, color="#222222").encode(
            text=alt.Text("probability:Q", format=".2f")))
    uniform = pd.DataFrame({"share": [1.0 / num_experts]})
    layers.append(alt.Chart(uniform).mark_rule(color="#666666", strokeDash=[4, 4], size=2).encode(
        y="share:Q", tooltip=[alt.Tooltip("share:Q", title="equal share 1/E", format=".3f")]))
    return finish(alt.layer(*layers), height)


# ---- sequences: a window and its prediction, or the blend of two windows -----------------------

def _long_lines(series):
    """[(name, steps (L,), values (L,))] -> long table step, series, value."""
    parts = [pd.DataFrame({"step": np.asarray(steps), "series": name, "value": np.asarray(values, dtype=float)})
             for name, steps, values in series]
    return pd.concat(parts, ignore_index=True)


def _lines(table, names, dashed, y_title, x_domain, height, extra=()):
    """A line with points per series (solid, or dashed for names in `dashed`) over the time steps."""
    color = alt.Color("series:N", scale=alt.Scale(domain=list(names), range=[SEQUENCE_COLORS[n] for n in names]),
                      legend=legend(None, symbolType="stroke", symbolStrokeWidth=4, symbolSize=300))
    dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=list(names),
                                                      range=[[6, 4] if n in dashed else [1, 0] for n in names]),
                          legend=None)
    base = alt.Chart(table).encode(
        x=alt.X("step:Q", scale=alt.Scale(domain=list(x_domain), nice=False),
                axis=axis("time step", tickMinStep=1)),
        y=alt.Y("value:Q", scale=alt.Scale(zero=False), axis=axis(y_title)),
        color=color, strokeDash=dash, tooltip=["series:N", "step:Q", alt.Tooltip("value:Q", format=".3f")])
    lines = alt.layer(*extra, base.mark_line(strokeWidth=3), base.mark_point(size=45, filled=True))
    return finish(lines, height)


def _feature_title(feature, feature_name, num_features):
    name = feature_name or (f"feature {feature}" if num_features > 1 else "value")
    return f"{name} (standardised)"


def prediction_chart(x, y, prediction, feature=0, feature_name=None, height=240):
    """One feature of a window: its true values against the model's prediction of each next step.

    x, y, prediction (S, F): y is x one step ahead, so the true values are x[0], ..., x[S-1], y[S-1]
    at steps 0..S, and the prediction made at input position s is for step s+1. The shaded last step
    lies beyond the input window: there the model has to forecast."""
    num_features = np.shape(x)[-1]
    x, y, prediction = (np.asarray(a, dtype=float)[:, feature] for a in (x, y, prediction))  # (S,) each
    length = len(x)
    table = _long_lines([("true values", np.arange(length + 1), np.append(x, y[-1])),  # (S + 1,)
                         ("prediction", np.arange(1, length + 1), prediction)])
    beyond = alt.Chart(pd.DataFrame({"start": [length - 0.5], "end": [length + 0.5],
                                     "what": ["beyond the input: a true forecast"]})).mark_rect(
        color="#fdd0a2", opacity=0.5).encode(x="start:Q", x2="end:Q", tooltip=["what:N"])
    return _lines(table, ["true values", "prediction"], {"prediction"},
                  _feature_title(feature, feature_name, num_features), (-0.5, length + 0.5), height, extra=[beyond])


def blend_chart(x_a, x_b, t, feature=0, feature_name=None, height=220):
    """One feature of inputs A and B (S, F) and of the blend (1-t)·A + t·B the model is fed at t."""
    num_features = np.shape(x_a)[-1]
    x_a, x_b = np.asarray(x_a, dtype=float)[:, feature], np.asarray(x_b, dtype=float)[:, feature]  # (S,) each
    steps = np.arange(len(x_a))
    table = _long_lines([("input A", steps, x_a), ("input B", steps, x_b),
                         ("blend", steps, (1 - t) * x_a + t * x_b)])
    return _lines(table, ["input A", "input B", "blend"], {"input A", "input B"},
                  _feature_title(feature, feature_name, num_features), (-0.5, len(x_a) - 0.5), height)


# ---- the gate along the path from A to B --------------------------------------------------------

def interpolation_chart(t, gate_probs, entropy, current_t=None, height=340):
    """Each expert's gate probability (left axis, a line per expert) and the gate's entropy in bits
    (right axis, dashed) along t, from 0 = sample A to 1 = sample B. current_t marks the slider.

    One chart with two y axes rather than two stacked panels: the entropy's peaks then sit exactly
    under the crossings of the experts' lines, which is the point."""
    t = np.asarray(t, dtype=float)                 # (T,)
    probs = np.asarray(gate_probs, dtype=float)    # (T, E)
    num_points, num_experts = probs.shape
    experts = expert_names(num_experts)
    x = alt.X("t:Q", scale=alt.Scale(domain=[0, 1]),
              axis=axis("t   (0 = sample A, 1 = sample B)", format=".1f"))
    gates = pd.DataFrame({"t": np.repeat(t, num_experts), "expert": np.tile(experts, num_points),
                          "probability": probs.ravel()})  # (T * E,) t-major
    base = alt.Chart(gates).encode(
        x=x, y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=axis("gate probability")),
        color=alt.Color("expert:N", scale=expert_color_scale(num_experts), legend=legend(None)),
        tooltip=[alt.Tooltip("t:Q", format=".3f"), "expert:N", alt.Tooltip("probability:Q", format=".3f")])
    h_max = math.log2(num_experts) if num_experts > 1 else 1.0
    ent = alt.Chart(pd.DataFrame({"t": t, "entropy": np.asarray(entropy, dtype=float)})).encode(
        x=x, y=alt.Y("entropy:Q", scale=alt.Scale(domain=[0, h_max]),
                     axis=axis("gate entropy, bits (dashed)", orient="right", titleColor=ENTROPY_COLOR,
                               labelColor=ENTROPY_COLOR, grid=False)),
        tooltip=[alt.Tooltip("t:Q", format=".3f"),
                 alt.Tooltip("entropy:Q", title="entropy (bits)", format=".3f")])
    gate_layer = alt.layer(base.mark_line(strokeWidth=3), base.mark_point(size=35, filled=True))
    entropy_layer = ent.mark_line(strokeWidth=3, strokeDash=[6, 4], color=ENTROPY_COLOR)
    layers = [gate_layer, entropy_layer]
    rule = _rule_at(current_t)
    if rule is not None:
        layers.append(rule)
    chart = alt.layer(*layers).resolve_scale(y="independent")
    return finish(chart, height)


# ---- any chart as SVG ---------------------------------------------------------------------------

def _fixed_width(node, width):
    """Copy of a Vega-Lite spec with every width="container" replaced by a number of pixels."""
    if isinstance(node, dict):
        return {key: width if key == "width" and value == "container" else _fixed_width(value, width)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_fixed_width(v, width) for v in node]
    return node


def svg_bytes(chart, width=900):
    """The chart (Altair chart or Vega-Lite dict) drawn as an SVG file, on the server.

    Why here and not in the browser: Streamlit 1.67's chart toolbar offers "Download as PNG" only, and
    it builds vega-embed with actions off and drops usermeta.embedOptions other than theme, renderer and
    padding, so vega-embed's own "Save as SVG" menu cannot be turned on. vl-convert renders the same
    Vega-Lite spec offline (it bundles Vega, no browser or network). A container-wide chart has no width
    outside a page, so it gets `width` pixels; the background is white so the file reads on any viewer."""
    if not SVG_EXPORT_AVAILABLE:
        raise RuntimeError("SVG export needs the vl-convert-python package (pip install vl-convert-python)")
    import vl_convert

    spec = chart.to_dict() if hasattr(chart, "to_dict") else dict(chart)
    spec = _fixed_width(spec, width)
    spec.setdefault("background", "white")
    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # "v6.4.1" -> "6.4", the spec's Vega-Lite
    kwargs = {"vl_version": version} if version in vl_convert.get_vegalite_versions() else {}
    return vl_convert.vegalite_to_svg(spec, **kwargs).encode("utf-8")
