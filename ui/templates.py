"""One data step, two outputs: an Altair chart, or a cached Vega-Lite template filled with the data.

Building the Altair objects and converting them with to_dict() costs ~50-100 ms of Python per chart,
all of it holding the GIL that the training thread (in the same process) needs. So each live chart is
two functions:
1. its data step (pandas and numpy only), which returns ChartData: the tables to draw, the few numbers
   inside the spec that depend on the data (slots, e.g. the top of a y axis) and the chart's shape, i.e.
   every option that changes the spec's structure (E, regime names, smoothing on or off, whether there
   are events, the height, ...);
2. its draw function, draw(table, slot, **shape) -> Altair chart, which gets each table by name.
ChartData.chart() draws with the tables themselves: an ordinary Altair chart. ChartData.spec() draws
once per shape with named datasets, converts that to a dict once (the template, cached here), and a
redraw then costs the data step, a copy of the template and a few assignments.
chart_builder turns a data step into the public builder that returns the Altair chart.
"""

import functools
import json
from typing import Callable, NamedTuple

import altair as alt
import pandas as pd

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
        """The same chart as a Vega-Lite dict: this shape's template holding this data.

        Datasets have fixed names, so the spec text stays the same from one redraw to the next and the
        browser can swap the data in place. spec["datasets"] holds the DataFrames themselves, which
        Streamlit sends as Arrow (as it does an Altair chart's data); with_records() turns them into
        plain JSON rows."""
        text, holes = template(self.draw, tuple(sorted(self.shape.items())))
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
def template(draw, shape):
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


def chart_builder(data_step):
    """The public builder of a chart: same name, signature and docstring as its data step, returning the
    Altair chart. The data step stays reachable as builder.data_step, for live specs."""
    @functools.wraps(data_step)
    def builder(*args, **kwargs):
        return data_step(*args, **kwargs).chart()

    builder.data_step = data_step
    return builder


def json_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table with plain-JSON cells: Python objects, every missing value (NaN, None) as None, as
    Altair's to_dict() writes them."""
    return table.astype(object).where(table.notna(), None)


def with_records(spec):
    """spec with each DataFrame in spec["datasets"] as a list of records (NaN -> None), like Altair's
    to_dict(): plain JSON, to save a spec or compare it with an Altair chart's."""
    def records(data):
        if not isinstance(data, pd.DataFrame):
            return data
        return json_cells(data).to_dict(orient="records")

    return {**spec, "datasets": {name: records(data) for name, data in spec.get("datasets", {}).items()}}
