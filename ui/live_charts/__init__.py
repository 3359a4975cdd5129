"""Live charts that stay in the page: one Vega view per chart, kept from one redraw to the next.

st.vega_lite_chart makes the browser redraw every chart on every rerun of the live fragment, whether or
not its data changed: with 7 charts that is 0.45-0.5 core-seconds of Chromium per tab and redraw (README
"Many tabs"), so six tabs on a 2-core machine could not keep up. This component (st.components.v2, no
iframe) draws the same Vega-Lite specs with the vega-embed that Streamlit's own charts use, keeps each
view, swaps in only the datasets whose content changed, and brings a chart that is out of view (or in a
hidden tab) up to date when it comes into view. live_charts.js is its browser half.

The data crosses as JSON bytes, encoded once per snapshot for every tab (ui.live memoises it): each
dataset by columns with a key (a hash of its content), each spec without its data with a key of its own.
"""

import functools
import hashlib
import json
from pathlib import Path

import pandas as pd
import streamlit as st
import streamlit.components.v2

from ui.templates import json_cells

HERE = Path(__file__).parent
# Streamlit's lazy loader of vega-embed, a file of its frontend build (the name carries a content hash).
LOADER_GLOB = "loadVegaEmbed.*.js"
# The look Streamlit's chart theme gives a chart that does not set its own (the run charts set their
# fonts, sizes and colours on each axis, legend and mark: ui.chart_style). The browser replaces the font
# with the page's own (the theme's --st-font).
CONFIG = {
    "font": "sans-serif",
    "background": None,
    "autosize": {"type": "fit", "contains": "padding"},
    "axis": {"ticks": False, "domain": False, "gridColor": "#e6eaf1", "labelColor": "#808495",
             "titleColor": "#808495", "titleFontWeight": "normal", "labelPadding": 8, "titlePadding": 12},
    "legend": {"labelColor": "#808495", "titleColor": "#808495", "titleFontWeight": "normal"},
    "view": {"stroke": None},
}


@functools.cache
def vega_loader() -> str | None:
    """The file name of Streamlit's vega-embed loader in its static folder, None if there is not
    exactly one (a Streamlit build laid out otherwise: the live view then uses st.vega_lite_chart)."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    found = sorted(path.name for path in folder.glob(LOADER_GLOB))
    return found[0] if len(found) == 1 else None


_mount = st.components.v2.component(
    "lfm_live_charts", css=(HERE / "live_charts.css").read_text(), js=(HERE / "live_charts.js").read_text())


def _key(value) -> str:
    """A short content hash of a JSON-able value."""
    return hashlib.blake2b(json.dumps(value, sort_keys=True).encode(), digest_size=8).hexdigest()


def by_columns(table: pd.DataFrame) -> dict:
    """A table as {"columns": names, "values": one list per column}, missing values as null
    (ui.templates.json_cells, as the records of a saved spec)."""
    cells = json_cells(table)
    return {"columns": [str(name) for name in cells.columns], "values": [cells[name].tolist() for name in cells.columns]}


def chart(spec: dict) -> dict:
    """One chart for the browser: the spec without its data, and each dataset (a DataFrame, as
    ui.templates.ChartData.spec gives it) by columns, each with a key."""
    bare = {name: value for name, value in spec.items() if name != "datasets"}
    datasets = {}
    for name, table in spec.get("datasets", {}).items():
        data = by_columns(table)
        datasets[name] = {**data, "key": _key(data)}
    return {"spec_key": _key(bare), "spec": bare, "datasets": datasets}


def payload(rows: list[dict]) -> bytes:
    """What the component draws, as the bytes it is sent. rows: [{"two": side by side, "cells": [cell, ...]}],
    a cell {"slot", "title", "caption", "chart": chart(spec)} or {"slot", "note"}."""
    return json.dumps({"loader": vega_loader(), "config": CONFIG, "rows": rows}, allow_nan=False).encode()


def draw(data: bytes, key: str) -> None:
    """Show (or update) the grid of live charts; key: the same for as long as the page shows one run."""
    _mount(key=key, data=data, width="stretch", height="content")
