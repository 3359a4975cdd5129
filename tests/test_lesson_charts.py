"""The Lessons page's charts: the band over seeds, the live template, and the sheet for slides."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from ui.lesson_charts import Card, lesson_curves_chart, lesson_sheet, seed_bands
from ui.templates import with_records


def lesson_curves(seeds=(0, 1, 2), steps=range(10, 110, 10)) -> pd.DataFrame:
    """curves(...) of one lesson: seed s has routing entropy 1 + s/10 at every step."""
    rows = [{"run_id": f"run-{s}", "seed": s, "step": step, "routing_entropy": 1 + s / 10, "load_entropy": 2.0,
             "mi_regime": step / 100} for s in seeds for step in steps]
    return pd.DataFrame(rows)


def test_the_band_spans_the_seeds_around_their_mean():
    bands = seed_bands(lesson_curves())
    routing = bands[bands["series"] == "routing entropy"]
    assert len(routing) == 10 and set(routing["seeds"]) == {3}
    assert np.allclose(routing["mean"], 1.1) and np.allclose(routing["low"], 1.0) and np.allclose(routing["high"], 1.2)
    assert set(bands["series"]) == {"routing entropy", "load entropy", "I(expert; regime)"}


def marks(spec) -> list[str]:
    return [layer["mark"]["type"] for layer in spec.get("layer", [])]


def test_one_seed_draws_lines_and_several_add_a_band():
    assert marks(lesson_curves_chart(lesson_curves(seeds=(0,))).to_dict()) == ["line"]
    assert marks(lesson_curves_chart(lesson_curves()).to_dict()) == ["area", "line"]
    # the live dict of the template is the Altair chart's spec, data included
    live = with_records(lesson_curves_chart.data_step(lesson_curves()).spec())
    altair = lesson_curves_chart(lesson_curves()).to_dict()
    assert marks(live) == marks(altair) and len(next(iter(live["datasets"].values()))) == 30


def test_no_metrics_yet_draws_a_message():
    spec = lesson_curves_chart(lesson_curves().iloc[:0]).to_dict()
    assert spec["mark"]["type"] == "text"


@pytest.mark.skipif(not importlib.util.find_spec("vl_convert"), reason="needs vl-convert-python")
def test_the_sheet_holds_every_card_as_svg_and_png():
    from ui.explore_charts import svg_bytes
    from ui.images import png_bytes

    matrix = np.eye(4).tolist()
    cards = [Card(f"Lesson {k}", "A claim in one sentence.", "routing entropy < 0.2 bits: collapse observed",
                  "Shown: collapse observed.", matrix if k else None, ["sine", "square", "sawtooth", "ar1"],
                  lesson_curves(), question="Why?") for k in range(5)]
    sheet = lesson_sheet(cards, title="Lessons of λ")
    svg = svg_bytes(sheet).decode()
    assert all(f"Lesson {k}" in svg for k in range(5)) and "Lessons of λ" in svg
    assert "no expert × regime matrix yet" in svg  # the card without one says so
    assert svg.count(">Ask the class: Why?<") == 5  # the text of each card (aria labels repeat it)
    assert png_bytes(sheet, scale=0.5).startswith(b"\x89PNG")
