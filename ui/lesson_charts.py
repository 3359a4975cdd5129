"""Charts of the Lessons page: a lesson's curves over its seeds, its card for slides, and the sheet of cards.

Pure functions, plain data in and an Altair chart out, in the style of ui.chart_style. A lesson's
expert × regime matrix is ui.run_charts.regime_matrix_chart, as everywhere else. What is new here:
  lesson_curves_chart  routing entropy, load entropy and I(expert; regime) against step; with several
                       seeds the line is their mean and a band spans the lowest to the highest seed
  lesson_sheet         every lesson's card (title, claim, matrix, curves, rule and verdict) on one
                       picture, for slides; ui.images.png_bytes / ui.explore_charts.svg_bytes write it to a file
"""
from __future__ import annotations

import math
import textwrap
from typing import NamedTuple

import altair as alt
import pandas as pd

from lfm.store import seeds
from ui.chart_style import (GREY, MAX_POINTS, SERIES_COLORS, SVG, TITLE_FONT, axis, legend, message_chart,
                            step_axis)
from ui.reduce import downsample
from ui.run_charts import regime_matrix_chart
from ui.templates import ChartData, chart_builder

CURVE_SERIES = {"routing_entropy": "routing entropy", "load_entropy": "load entropy",
                "mi_regime": "I(expert; regime)"}  # metrics.csv column -> series name
CURVE_COLORS = {**{name: SERIES_COLORS[name] for name in ("routing entropy", "load entropy")},
                "I(expert; regime)": "#ff7f0e"}
CARD_WIDTH = 300  # px of one card on the sheet
WRAP = 46  # characters per line of a card's text at CARD_WIDTH

EXPLANATION = (
    "Each card is one lesson: its preset trained at the sidebar's settings. Left: the expert × regime matrix at "
    "the end (each column sums to 1; one bright cell per column in different rows is specialisation, one "
    "bright row is collapse). Right: routing entropy (how undecided each sample's gate is), load entropy (how "
    "evenly the experts are used) and I(expert; regime) (how much the regime decides the expert), in bits, "
    "over training. With several seeds the line is their mean and the band runs from the lowest seed to the "
    "highest. The verdict applies the stated rule to the final numbers.")


def _message(text, height=200):
    """A 'nothing to draw yet' chart, as a data step (ui.templates)."""
    return ChartData(_draw_message, {"height": height}, {"message": pd.DataFrame({"message": [text]})})


def _draw_message(table, slot, *, height):
    return message_chart(table("message"), height)


def seed_bands(curves_df) -> pd.DataFrame:
    """Long table of each series' mean, lowest and highest value over the seeds at each step.

    curves_df: lfm.store.results.curves(...) of one lesson's runs (one per seed); the reduction is
    lfm.store.seeds.seed_bands, as on the Compare and Sweep pages. Columns out: step, series, mean, low,
    high, seeds (how many seeds logged that step)."""
    bands = seeds.seed_bands(curves_df, "step", list(CURVE_SERIES))
    bands = bands.assign(series=bands["column"].map(CURVE_SERIES))[["step", "series", "mean", "low", "high", "seeds"]]
    if bands.empty:
        return bands
    per_series = [frame for _, frame in bands.groupby("series", sort=False)]
    budget = MAX_POINTS // (2 * len(per_series))  # a line and a band per series
    return pd.concat([downsample(f, max_points=budget) for f in per_series], ignore_index=True)


@chart_builder
def lesson_curves_chart(curves_df, num_experts=4, width="container", height=220):
    """Routing entropy, load entropy and I(expert; regime) (bits) of one lesson against step.

    curves_df: lfm.store.results.curves(...) of the lesson's runs; one line per series, the mean over
    seeds, and with more than one seed a band from the lowest to the highest seed. A builder of
    ui.templates: lesson_curves_chart.data_step(...).spec() is the same chart as a cheap live dict."""
    if curves_df is None or len(curves_df) == 0:
        return _message("no metrics logged yet", height)
    bands = seed_bands(curves_df)
    if bands.empty:
        return _message("no entropies logged yet", height)
    top = math.log2(num_experts) if num_experts > 1 else 1.0  # the ceiling of both entropies
    return ChartData(_draw_curves, dict(banded=int(bands["seeds"].max()) > 1, width=width, height=height),
                     {"bands": bands}, slots={"y_top": max(top, float(bands["high"].max())) * 1.05})


def _draw_curves(table, slot, *, banded, width, height):
    y_scale = alt.Scale(domain=[0, slot("y_top")], nice=False)
    # one name a row: two or three in a row run past a card a third of a page wide
    color = alt.Color("series:N", scale=alt.Scale(domain=list(CURVE_COLORS), range=list(CURVE_COLORS.values())),
                      legend=legend(None, symbolType="stroke", symbolStrokeWidth=4, symbolSize=300, columns=1))
    x = alt.X("step:Q", axis=step_axis(), scale=alt.Scale(zero=False, nice=False))
    tooltip = ["series:N", alt.Tooltip("step:Q", format=","), alt.Tooltip("mean:Q", format=".3f", title="mean (bits)"),
               alt.Tooltip("low:Q", format=".3f", title="lowest seed"),
               alt.Tooltip("high:Q", format=".3f", title="highest seed"), "seeds:Q"]
    base = alt.Chart(table("bands")).encode(x=x, color=color, tooltip=tooltip)
    layers = [base.mark_line(strokeWidth=3).encode(y=alt.Y("mean:Q", scale=y_scale, axis=axis("bits")))]
    if banded:
        layers.insert(0, base.mark_area(opacity=0.25).encode(y=alt.Y("low:Q", scale=y_scale, axis=axis("bits")),
                                                             y2="high:Q"))
    chart = alt.layer(*layers).properties(width=width, height=height, usermeta=SVG)
    if width == "container":  # on a card: fit-x keeps `height` for the plot; without it the browser squeezed
        # the plot into what the legend and axes left of it (a strip 35 px high). The sheet sets a width.
        chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    return chart


def _text_lines(text, width=WRAP):
    return textwrap.wrap(text, width) or [""]


class Card(NamedTuple):
    """What one lesson's card on the sheet shows."""
    title: str
    claim: str
    rule: str                  # the rule's text
    verdict: str               # the verdict's text
    matrix: list | None        # (E, K) final expert × regime matrix of its first seed, None before one
    regime_names: list | None
    curves_df: pd.DataFrame    # lfm.store.results.curves(...) of its runs
    num_experts: int = 4
    question: str = ""         # for the class; printed last


def card_chart(card: Card):
    """One lesson for slides: title and claim above, matrix and curves, the rule and verdict below."""
    header = alt.Chart(pd.DataFrame({"line": _text_lines(card.claim)}).reset_index()).mark_text(
        align="left", baseline="top", fontSize=13, color="#222222").encode(
        x=alt.value(0), y=alt.Y("index:O", axis=None), text="line:N").properties(
        width=CARD_WIDTH, height=16 * len(_text_lines(card.claim)), view=alt.ViewConfig(stroke=None),
        title=alt.Title(card.title, fontSize=TITLE_FONT + 3, anchor="start"))
    if card.matrix is not None:
        matrix = regime_matrix_chart(card.matrix, card.regime_names)
        matrix.usermeta = alt.Undefined  # the renderer option belongs on the top level only
        matrix = matrix.properties(width=CARD_WIDTH, height=40 * len(card.matrix))
    else:
        matrix = alt.Chart(pd.DataFrame({"m": ["no expert × regime matrix yet"]})).mark_text(
            fontSize=13, color=GREY).encode(text="m:N").properties(width=CARD_WIDTH, height=60,
                                                                    view=alt.ViewConfig(stroke=None))
    curves = lesson_curves_chart(card.curves_df, card.num_experts, width=CARD_WIDTH, height=160)
    curves.usermeta = alt.Undefined
    footer_lines = _text_lines("Rule: " + card.rule) + _text_lines(card.verdict)
    if card.question:
        footer_lines += _text_lines("Ask the class: " + card.question)
    footer = alt.Chart(pd.DataFrame({"line": footer_lines}).reset_index()).mark_text(
        align="left", baseline="top", fontSize=13, fontWeight="bold", color="#222222").encode(
        x=alt.value(0), y=alt.Y("index:O", axis=None), text="line:N").properties(
        width=CARD_WIDTH, height=16 * len(footer_lines), view=alt.ViewConfig(stroke=None))
    return alt.vconcat(header, matrix, curves, footer, spacing=10)


def lesson_sheet(cards, columns=4, title=None):
    """Every card on one picture, `columns` to a row, for a slide (SVG or PNG)."""
    if not cards:
        return _message("no lessons to show").chart()
    chart = alt.concat(*[card_chart(c) for c in cards], columns=columns, spacing=40).resolve_scale(
        color="independent")
    if title:
        chart = chart.properties(title=alt.Title(title, fontSize=TITLE_FONT + 6, anchor="start", offset=20))
    return chart.properties(usermeta=SVG, background="white", padding=20)
