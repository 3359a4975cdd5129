"""Tests for the live grid (ui.live_charts, ui.live.live_grid): what it sends the browser.

The grid draws the live view's charts from the same specs as st.vega_lite_chart, so the page's
behaviour in a browser is tested in test_browser_live_charts.py; here: the payload (strict JSON, every
chart in LAYOUT's order with its title and caption, datasets by columns with missing values as null),
the keys that let the browser skip what did not change, Streamlit's vega-embed loader being where the
grid looks for it, and the fall-back to st.vega_lite_chart without it.
"""

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.testing.v1 import AppTest

from test_charts import E, make_run
from ui import live_charts, run_charts, templates
from ui.live import LAYOUT, MISSING, chart_calls, live_grid
from ui.shared_runs import RunView

_serials = itertools.count(10_000_000)  # snapshots of these tests: serials no real view has


def snapshot(num_rows: int, seed: int = 0) -> RunView:
    return RunView("r", metrics=make_run(num_rows, seed=seed), info={"num_experts": E}, serial=next(_serials))


def grid(view: RunView) -> dict:
    return json.loads(live_grid(view, chart_calls(view, 0.6, live=True)))


def test_streamlit_ships_the_vega_embed_loader_the_grid_imports():
    """If a Streamlit upgrade renames or splits it, this fails (the page would fall back to st.vega_lite_chart)."""
    name = live_charts.vega_loader()
    assert name is not None and name.startswith("loadVegaEmbed.")
    source = (Path(st.__file__).parent / "static" / "static" / "js" / name).read_text()
    assert "embed" in source and "export" in source


def test_datasets_cross_by_columns_with_missing_values_as_null():
    table = pd.DataFrame({"step": [10, 20, 30], "value": [0.5, np.nan, 1.5], "series": ["a", None, "c"]})
    sent = json.loads(json.dumps(live_charts.by_columns(table), allow_nan=False))
    assert sent["columns"] == ["step", "value", "series"]
    rows = [dict(zip(sent["columns"], values)) for values in zip(*sent["values"])]  # as the browser rebuilds them
    assert rows == templates.with_records({"datasets": {"t": table}})["datasets"]["t"]
    assert rows[1] == {"step": 20, "value": None, "series": None}


def test_every_chart_is_sent_in_layout_order_with_its_title_and_caption():
    sent = grid(snapshot(300))
    assert sent["loader"] == live_charts.vega_loader() and sent["config"] == live_charts.CONFIG
    slots = [[cell["slot"] for cell in row["cells"]] for row in sent["rows"]]
    order = [slot for row in LAYOUT for slot in row]
    assert [slot for row in slots for slot in row] == [slot for slot in order if slot in
                                                      {"loss", "entropy", "gate_load", "utilisation", "regime_matrix"}]
    assert [row["two"] for row in sent["rows"]] == [True, False, True, True]  # LAYOUT's pairs stay pairs
    cells = {cell["slot"]: cell for row in sent["rows"] for cell in row["cells"]}
    assert cells["regime_matrix"] == {"slot": "regime_matrix", "note": MISSING["regime_matrix"]}  # no regimes
    calls = chart_calls(snapshot(300), 0.6, live=True)
    for slot in ("loss", "entropy", "gate_load", "utilisation"):
        assert cells[slot]["title"] == calls[slot].title
        assert cells[slot]["caption"] == run_charts.EXPLANATIONS[calls[slot].name]
        spec = cells[slot]["chart"]["spec"]
        assert "datasets" not in spec and spec["width"] == "container"


def test_the_spec_key_stays_while_the_data_keys_follow_the_data():
    """The browser embeds a chart anew only when its spec key changes, and swaps a dataset only when its
    key does: from one log step to the next the loss chart's spec stays and its lines move."""
    first, same, later = (grid(view) for view in (snapshot(300), snapshot(300), snapshot(301)))
    charts = [{c["slot"]: c["chart"] for row in g["rows"] for c in row["cells"] if "chart" in c}
              for g in (first, same, later)]
    assert charts[0] == charts[1]  # same data: same keys, same payload
    assert charts[2]["loss"]["spec_key"] == charts[0]["loss"]["spec_key"]
    assert charts[2]["loss"]["datasets"]["lines"]["key"] != charts[0]["loss"]["datasets"]["lines"]["key"]
    other_seed = grid(snapshot(300, seed=1))
    loss = {c["slot"]: c["chart"] for row in other_seed["rows"] for c in row["cells"] if "chart" in c}["loss"]
    assert loss["datasets"]["lines"]["key"] != charts[0]["loss"]["datasets"]["lines"]["key"]


def test_the_grid_is_encoded_once_per_snapshot_for_every_tab():
    view = snapshot(300)
    calls = chart_calls(view, 0.6, live=True)
    assert live_grid(view, calls) is live_grid(view, chart_calls(view, 0.6, live=True))
    assert live_grid(view, chart_calls(view, 0.0, live=True)) != live_grid(view, calls)  # another smoothing


def _page():
    import streamlit as st

    from test_charts import E, make_run
    from ui.live import all_charts
    from ui.shared_runs import RunView

    view = RunView("r", metrics=make_run(300), info={"num_experts": E}, serial=st.session_state.get("serial", 1))
    all_charts(view, 0.6, live=st.session_state.get("live", True))


def test_a_live_view_draws_the_grid_and_an_ended_one_streamlit_charts(monkeypatch):
    at = AppTest.from_function(_page, default_timeout=30)
    at.session_state["serial"] = next(_serials)
    at.run()
    assert not at.exception
    assert len(at.get("bidi_component")) == 1 and not at.get("vega_lite_chart")
    at.session_state["live"] = False
    at.run()
    assert not at.exception and not at.get("bidi_component") and len(at.get("vega_lite_chart")) == 4

    # a Streamlit build without the loader: the live view draws Streamlit's charts rather than nothing
    monkeypatch.setattr(live_charts, "vega_loader", lambda: None)
    at.session_state["live"] = True
    at.run()
    assert not at.exception and not at.get("bidi_component") and len(at.get("vega_lite_chart")) == 4
