"""Charts of a replay: a step marker on the live curves, one snapshot as a picture, and the snapshots as a GIF.

Pure functions apart from the image files (ui.images), in the style of ui.chart_style:
  with_step_marker  a Vega-Lite dict of ui.run_charts.live_spec with a vertical rule at the replayed step
  frame_chart       one snapshot's expert × regime matrix and probe heatmap side by side, titled by its step
  replay_gif        frame_chart of chosen snapshots as an animated GIF, one frame per snapshot
"""
from __future__ import annotations

import altair as alt

from lfm.store.snapshots import SnapshotIndex
from ui.chart_style import SVG, TITLE_FONT
from ui.images import gif_bytes, png_bytes
from ui.run_charts import live_spec
from ui.templates import with_records

MARKER_COLOR = "#d62728"
PANEL_WIDTH = 360  # px of each panel of a GIF frame


def with_step_marker(spec: dict, step: int, label: str = "replayed step") -> dict:
    """spec (a layered live chart against training step, e.g. live_spec("loss_chart", ...)) with a red
    vertical rule at `step`. A spec that is not layered (a 'nothing logged yet' message) is returned as is."""
    if "layer" not in spec:
        return spec
    rule = {"mark": {"type": "rule", "color": MARKER_COLOR, "strokeWidth": 3},
            "encoding": {"x": {"datum": step, "type": "quantitative"},
                         "tooltip": {"value": f"{label}: {step:,}"}}}
    return {**spec, "layer": [*spec["layer"], rule]}


def _panel(name, args, title, prefix):
    """Chart `name` of ui.run_charts as a Vega-Lite dict to place in a concatenation: a fixed width, a title,
    and its datasets renamed with `prefix` so two panels' tables (both called "cells") stay apart."""
    spec = with_records(live_spec(name, *args))  # the cached template: ms, where Altair takes ~0.5 s
    datasets = {prefix + key: rows for key, rows in spec.pop("datasets").items()}
    for key in ("$schema", "usermeta", "config"):
        spec.pop(key, None)
    spec = _renamed(spec, prefix)
    spec["width"] = PANEL_WIDTH
    spec["title"] = {"text": title, "fontSize": TITLE_FONT}
    return spec, datasets


def _renamed(node, prefix):
    """Copy of a spec with every named-data reference {"name": x} turned into {"name": prefix + x}."""
    if isinstance(node, dict):
        if set(node) == {"name"} and isinstance(node["name"], str):
            return {"name": prefix + node["name"]}
        return {key: _renamed(value, prefix) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(value, prefix) for value in node]
    return node


def frame_chart(snapshot, probe_labels=None, regime_names=None) -> dict:
    """One snapshot (lfm.store.snapshots.Snapshot) as one picture, a Vega-Lite dict: the expert × regime
    matrix (when the data has regimes) and the probe heatmap side by side, titled by the training step."""
    panels, datasets = [], {}
    if snapshot.regime_matrix:
        panel, tables = _panel("regime_matrix_chart", (snapshot.regime_matrix, regime_names), "expert × regime", "m_")
        panels.append(panel)
        datasets.update(tables)
    panel, tables = _panel("probe_heatmap", (snapshot.probe_gates, probe_labels, regime_names),
                           "probe batch: each sample's gate", "p_")
    panels.append(panel)
    datasets.update(tables)
    return {"$schema": alt.SCHEMA_URL, "hconcat": panels, "spacing": 40, "datasets": datasets,
            "resolve": {"scale": {"color": "independent"}}, "padding": 16, "usermeta": SVG,
            "title": {"text": f"training step {snapshot.step:,}", "fontSize": TITLE_FONT + 5, "anchor": "start"}}


def replay_gif(index: SnapshotIndex, positions, probe_labels=None, regime_names=None, frame_ms=400) -> bytes:
    """The snapshots at `positions` (indices into index, e.g. index.frames(24)) as an animated GIF, one
    frame each, in the order given."""
    frames = [png_bytes(frame_chart(index.read_at(k), probe_labels, regime_names), scale=1.0) for k in positions]
    return gif_bytes(frames, frame_ms=frame_ms)
