"""Tests for the run charts (ui/run_charts.py), their style (ui/chart_style.py) and live templates
(ui/templates.py): every builder yields a valid Vega-Lite spec, stays small on long runs, and keeps the
shared conventions (expert colours, fonts, tooltips); the quadrant's entropies are lfm.nn.entropy's;
live_spec gives the same specs from templates built once per chart shape. The data reduction is tested
in test_reduce.py; speed is measured by bench/bench_charts.py, not asserted here."""
import json
import math
from pathlib import Path
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest
import torch

from lfm.nn.entropy import compute_entropy, varentropy
from ui import chart_style, explore_charts, lab_charts, reduce, templates
from ui import run_charts as charts

E = 4
EVENTS = [{"step": 300, "kind": "lambda_change", "value": 0.3}, {"step": 50, "kind": "pause"}]


def make_run(num_rows, num_experts=E, seed=0):
    """A metrics frame shaped like the run store's: one row per log step, val_loss mostly NaN."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, num_rows + 1) * 10
    loss = 1.0 / np.sqrt(np.arange(1, num_rows + 1)) + 0.05 * rng.random(num_rows)
    routing = math.log2(num_experts) * rng.random(num_rows)
    val = np.full(num_rows, np.nan)
    val[:: max(1, num_rows // 20)] = 0.5
    load = rng.dirichlet(np.ones(num_experts), num_rows)  # (N, E)
    cols = dict(step=step, epoch=step // 1000, total_steps=num_rows * 10, time_s=step * 0.01,
                samples_per_s=900.0, lambda_entropy=0.01, balance_coef=0.0, loss=loss,
                total_loss=loss + 0.01 * routing, val_loss=val, routing_entropy=routing,
                load_entropy=routing + 0.1, specialisation=0.1 * rng.random(num_rows), varentropy=0.2,
                mi_regime=np.nan)
    cols.update({f"load_{e}": load[:, e] for e in range(num_experts)})
    return pd.DataFrame(cols)


def make_probe(num_samples=32, num_experts=E, num_regimes=4, seed=0):
    rng = np.random.default_rng(seed)
    gates = rng.dirichlet(np.full(num_experts, 0.5), num_samples)  # (P, E)
    labels = rng.integers(0, num_regimes, num_samples)
    return gates.tolist(), labels.tolist(), [f"r{k}" for k in range(num_regimes)]


def all_builders(df, gates, labels, names, num_experts=E):
    regime_matrix = np.full((num_experts, len(names)), 1.0 / num_experts).tolist()
    load = df[[f"load_{e}" for e in range(num_experts)]].iloc[-1].tolist()
    return {
        "loss_chart": charts.loss_chart(df, events=EVENTS),
        "loss_chart_log": charts.loss_chart(df, smoothing=0.0, log_y=True),
        "entropy_chart": charts.entropy_chart(df, num_experts, smoothing=0.6, events=EVENTS),
        "gate_load_heatmap": charts.gate_load_heatmap(df, num_experts, events=EVENTS),
        "probe_heatmap": charts.probe_heatmap(gates, labels, names),
        "probe_heatmap_unlabelled": charts.probe_heatmap(gates, None, None),
        "regime_matrix_chart": charts.regime_matrix_chart(regime_matrix, names),
        "utilisation_chart": charts.utilisation_chart(load),
        "quadrant_chart": charts.quadrant_chart(gates, labels, names),
        "quadrant_chart_unlabelled": charts.quadrant_chart(gates),
    }


@pytest.fixture(scope="module")
def small_specs():
    gates, labels, names = make_probe()
    return {k: c.to_dict() for k, c in all_builders(make_run(60), gates, labels, names).items()}


def walk(node):
    """Every dict inside a spec, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def dataset_rows(spec):
    return sum(len(rows) for rows in spec.get("datasets", {}).values())


def test_every_builder_gives_a_valid_container_width_spec(small_specs):
    for name, spec in small_specs.items():  # to_dict() above validated each against the Vega-Lite schema
        assert spec["width"] == "container", name
        assert spec["height"] >= 100, name
        assert dataset_rows(spec) > 0, name


def test_empty_inputs_give_a_message_chart():
    empty = pd.DataFrame(columns=list(make_run(1).columns))
    for chart in (charts.loss_chart(empty), charts.entropy_chart(empty, E), charts.gate_load_heatmap(empty, E),
                  charts.probe_heatmap(None, None, None), charts.regime_matrix_chart(None, None),
                  charts.utilisation_chart([]), charts.quadrant_chart([])):
        spec = chart.to_dict()
        assert spec["mark"]["type"] == "text"


def test_every_mark_has_a_tooltip_and_projector_sized_fonts(small_specs):
    for name, spec in small_specs.items():
        marks = [node for node in walk(spec) if "mark" in node]
        assert marks, name
        for node in marks:
            assert "tooltip" in node.get("encoding", {}), (name, node["mark"])
        for node in walk(spec):
            for key in ("fontSize", "labelFontSize", "titleFontSize"):
                if key in node:
                    assert node[key] >= 13, (name, key)
            if "axis" in node and node["axis"] is not None:
                assert node["axis"].get("labelFontSize", 0) >= 13, name


def test_long_run_charts_stay_under_3000_points():
    gates, labels, names = make_probe(num_samples=20_000)
    for name, chart in all_builders(make_run(100_000), gates, labels, names).items():
        assert dataset_rows(chart.to_dict()) <= 3000, name


def test_many_experts_heatmap_stays_small():
    df = make_run(5_000, num_experts=16)
    assert dataset_rows(charts.gate_load_heatmap(df, 16).to_dict()) <= 3000


def test_utilisation_chart_flags_dead_experts():
    # the rule itself (lfm.store.results.dead_experts) is tested in test_results.py
    spec = charts.utilisation_chart([0.5, 0.3, 0.19, 0.01]).to_dict()
    rows = [row for rows in spec["datasets"].values() for row in rows if "status" in row]
    assert [row["status"] for row in rows] == ["active", "active", "active", "dead"]
    assert rows[3]["label"].endswith("dead")


def test_utilisation_axis_moves_in_steps_so_a_live_redraw_keeps_its_spec():
    """Loads that move the tallest bar a little give the same spec text (the browser then swaps the data
    in place rather than rebuilding the chart); the top still clears the tallest bar by a fifth."""
    def spec_text(load):
        spec = charts.live_spec("utilisation_chart", load)
        return json.dumps({k: v for k, v in spec.items() if k != "datasets"}), spec

    (a, spec_a), (b, _) = spec_text([0.52, 0.28, 0.15, 0.05]), spec_text([0.53, 0.27, 0.15, 0.05])
    assert a == b
    top = [n["domain"][1] for n in walk(spec_a) if isinstance(n.get("domain"), list) and n["domain"][0] == 0]
    assert top and all(0.52 * 1.2 <= t < 0.52 * 1.2 + charts.Y_MAX_STEP for t in top)
    assert spec_text([0.70, 0.10, 0.10, 0.10])[0] != a  # a bar outgrowing the axis moves it


def test_expert_colours_are_the_same_in_every_chart(small_specs):
    expected_scale = chart_style.expert_color_scale(E).to_dict()
    expected_expr = chart_style.expert_label_color(E).to_dict()
    for e in range(E):  # the label expression and the scale give expert e the same colour
        assert f"'expert {e}' ? '{expected_scale['range'][e]}'" in expected_expr["expr"]
    assert len(set(expected_scale["range"])) == E
    names = chart_style.expert_names(E)
    for name in ("gate_load_heatmap", "probe_heatmap", "regime_matrix_chart", "utilisation_chart"):
        nodes = list(walk(small_specs[name]))
        scales = [n for n in nodes if n.get("domain") == names and "range" in n]
        exprs = [n["labelColor"] for n in nodes if "labelColor" in n]
        assert scales or exprs, name
        assert all(s == expected_scale for s in scales), name
        assert all(x == expected_expr for x in exprs), name
    assert chart_style.expert_color_scale(3).to_dict()["range"] == expected_scale["range"][:3]


def test_lambda_events_are_drawn_and_labelled(small_specs):
    rows = [r for rows in small_specs["loss_chart"]["datasets"].values() for r in rows if "label" in r]
    assert [r["label"] for r in rows] == ["lambda -> 0.3"]  # the "pause" event is not a lambda change


def test_entropy_chart_ceiling_is_log2_e(small_specs):
    spec = small_specs["entropy_chart"]
    labels = [r["label"] for rows in spec["datasets"].values() for r in rows if "label" in r]
    assert "log2(E) = 2.00 bits (max)" in labels
    domains = [n["domain"] for n in walk(spec) if isinstance(n.get("domain"), list)
               and n["domain"][:1] == [0]]
    assert domains and all(2.0 < d[1] < 2.3 for d in domains)


def with_warmup(df, lam=0.3):
    """df with the lambda_entropy column of a linear warm-up over the first half of its rows."""
    ramp = np.minimum(1.0, np.arange(len(df)) / max(1, len(df) // 2))
    return df.assign(lambda_entropy=lam * ramp)


def test_entropy_chart_draws_the_lambda_used_only_when_it_varies(small_specs):
    assert "lambda" not in small_specs["entropy_chart"]["datasets"]  # constant λ: no curve, one y axis
    assert "resolve" not in small_specs["entropy_chart"]
    df = with_warmup(make_run(5_000))
    spec = charts.entropy_chart(df, E).to_dict()
    assert spec["resolve"] == {"scale": {"y": "independent"}}  # bits on the left, λ on the right
    curve = spec["datasets"][_dataset_with(spec, "lambda_entropy")]
    values = [r["lambda_entropy"] for r in curve]
    assert len(curve) <= charts.LAMBDA_POINTS and min(values) == 0.0 and max(values) == pytest.approx(0.3)
    assert values == sorted(values)  # the warm-up rises, then holds
    assert dataset_rows(spec) <= chart_style.MAX_POINTS + 10
    axes = [n["axis"] for n in walk(spec) if isinstance(n.get("axis"), dict) and n["axis"].get("orient") == "right"]
    assert [a["title"] for a in axes] == ["λ used"]
    live = charts.live_spec("entropy_chart", with_warmup(make_run(60)), E)
    assert live["datasets"]["lambda"]["lambda_entropy"].is_monotonic_increasing
    from ui.replay_charts import with_step_marker
    marked = templates.with_records(with_step_marker(live, 300))  # the replay's marker still makes a valid spec
    alt.LayerChart.from_dict(marked)  # validates against the Vega-Lite schema
    assert marked["layer"][-1]["encoding"]["x"]["datum"] == 300


def test_series_legends_never_cut_a_name_and_side_by_side_charts_switch_together(small_specs):
    """A series legend's labels may be as wide as their estimated widths (at least the measured 0.46 em of
    the widest metric name), and its entries leave one row for one per line before the plot is narrower
    than that row: a row wider than the chart runs off its edge and is cut there (a half-width column)."""
    assert chart_style.LABEL_EM * chart_style.FONT >= 0.46 * chart_style.FONT * 1.05  # measured, plus a margin
    warmup = charts.entropy_chart(with_warmup(make_run(60)), E).to_dict()  # λ adds a fourth series
    switch_widths = {}
    for name, spec in {**small_specs, "entropy_chart_lambda": warmup}.items():
        for node in walk(spec):
            color = node.get("color") if isinstance(node.get("color"), dict) else {}
            if not isinstance(color.get("legend"), dict) or "series" not in color.get("field", ""):
                continue
            shown, legend = color["scale"]["domain"], color["legend"]
            assert legend["labelLimit"] >= max(chart_style.label_width(n) for n in shown), name
            one_row_from = float(re.fullmatch(r"width < ([\d.]+) \? 1 : 0", legend["columns"]["expr"])[1])
            assert one_row_from >= chart_style.legend_row_px(shown), name
            switch_widths.setdefault(name, set()).add(one_row_from)
    assert {"loss_chart", "entropy_chart", "entropy_chart_lambda"} <= set(switch_widths)
    assert switch_widths["loss_chart"] == switch_widths["entropy_chart"]  # the pair of ui.live.LAYOUT
    assert chart_style.SERIES_LABEL_LIMIT >= max(chart_style.label_width(n) for n in chart_style.SERIES_COLORS)


def _dataset_with(spec, column):
    """The name of the one dataset of spec whose rows have `column`."""
    names = [name for name, rows in spec["datasets"].items() if rows and column in rows[0]]
    assert len(names) == 1, names
    return names[0]


def test_log_y_drops_non_positive_values():
    df = make_run(50)
    df["total_loss"] = -1.0  # λ < 0 can make the total negative: a log axis cannot show it
    spec = charts.loss_chart(df, log_y=True).to_dict()
    values = [r[k] for rows in spec["datasets"].values() for r in rows for k in ("raw", "smoothed", "val_loss")
              if r.get(k) is not None]
    assert values and min(values) > 0


def test_gate_load_heatmap_averages_within_bins():
    df = make_run(8, num_experts=2)
    spec = charts.gate_load_heatmap(df, 2, max_columns=2).to_dict()
    rows = [r for rows in spec["datasets"].values() for r in rows if r.get("expert") == "expert 0"]
    assert len(rows) == 2
    np.testing.assert_allclose([r["load"] for r in rows],
                               [df["load_0"].iloc[:4].mean(), df["load_0"].iloc[4:].mean()])


def test_probe_heatmap_groups_samples_by_regime():
    gates, labels, names = make_probe(num_samples=40)
    spec = charts.probe_heatmap(gates, labels, names).to_dict()
    rows = [r for rows in spec["datasets"].values() for r in rows if r.get("column") == "expert 0"]
    regime_by_rank = [r["regime"] for r in sorted(rows, key=lambda r: r["rank"])]
    assert regime_by_rank == sorted(regime_by_rank, key=names.index)
    by_sample = {r["sample"]: r["probability"] for r in rows}
    assert by_sample == pytest.approx({i: g[0] for i, g in enumerate(gates)})


def test_quadrant_points_are_lfm_entropies():
    # one implementation of the formulas: the chart's numbers are lfm.nn.entropy's, to the last bit
    gates, labels, names = make_probe(num_samples=200)
    gates[0], gates[1] = [1.0, 0.0, 0.0, 0.0], [0.25] * 4  # a one-hot gate (p = 0 entries) and a uniform one
    points = charts.quadrant_chart.data_step(gates, labels, names).tables["points"]
    probs = torch.tensor(gates, dtype=torch.float64)  # (P, E)
    np.testing.assert_array_equal(points["entropy"], compute_entropy(probs).numpy())
    np.testing.assert_array_equal(points["varentropy"], varentropy(probs).numpy())
    np.testing.assert_allclose(points["entropy"][:2], [0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(points["varentropy"][:2], [0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("num_experts", [2, 4, 7])
def test_quadrant_scale_holds_every_varentropy(num_experts):
    samples = np.random.default_rng(0).dirichlet(np.full(num_experts, 0.3), 5000)  # (N, E)
    v_max = charts.max_varentropy(num_experts)
    # a grid search: within 1e-4 of the true maximum (the chart also stretches to its largest point)
    assert varentropy(torch.from_numpy(samples)).max().item() <= v_max * (1 + 1e-4)
    if num_experts == 2:  # E = 2: p = (t, 1 - t) has varentropy t(1-t) log2((1-t)/t)^2, largest ~0.9 bits²
        t = np.linspace(1e-6, 0.5, 200_001)
        assert v_max == pytest.approx((t * (1 - t) * np.log2((1 - t) / t) ** 2).max(), rel=1e-3)
    assert set(charts.QUADRANT_LABELS.values()) == {"confident", "evenly unsure", "a few strong candidates",
                                                    "confused"}


def test_lambda_color_scale_is_centred_at_zero():
    scale = chart_style.lambda_color_scale([0.01, 0.3, -0.1]).to_dict()
    assert scale["domain"] == [-0.3, 0.0, 0.3]
    assert len(scale["range"]) == 3
    assert chart_style.lambda_color_scale([0.0]).to_dict()["domain"] == [-1.0, 0.0, 1.0]
    spec = alt.Chart(pd.DataFrame({"lambda_entropy": [0.1, -0.1]})).mark_point().encode(
        color=alt.Color("lambda_entropy:Q", scale=chart_style.lambda_color_scale([0.1, -0.1]))).to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"][1] == 0.0


def test_every_chart_has_a_short_explanation():
    for name in ("loss_chart", "entropy_chart", "gate_load_heatmap", "probe_heatmap", "regime_matrix_chart",
                 "utilisation_chart", "quadrant_chart", "lambda_color_scale"):
        text = charts.EXPLANATIONS[name]
        assert 60 < len(text) < 700, name
    assert "log2(E)" in charts.EXPLANATIONS["entropy_chart"]


@pytest.mark.parametrize("module", [chart_style, reduce, templates, charts, explore_charts, lab_charts])
def test_chart_modules_are_pure(module):
    source = Path(module.__file__).read_text()
    assert "import streamlit" not in source and "open(" not in source


@pytest.mark.parametrize("definition, home", [
    *((name, "ui.chart_style") for name in ("MAX_POINTS", "FONT", "GREY", "SVG", "EXPERT_PALETTE",
                                             "def axis", "def legend", "def expert_names", "def finish")),
    ("def downsample", "ui.reduce"), ("def ema_smooth", "ui.reduce")])
def test_each_chart_helper_has_one_home(definition, home):
    # defined once, imported by every chart module that uses it: no private copies (_axis, a second FONT)
    modules = (chart_style, reduce, templates, charts, explore_charts, lab_charts)
    pattern = re.compile(rf"^(def )?_?{re.escape(definition.removeprefix('def '))}\b", re.MULTILINE)
    assert [m.__name__ for m in modules if pattern.search(Path(m.__file__).read_text())] == [home]


# ---- live_spec: the same charts from cached templates -------------------------------------------

def live_cases(df, gates, labels, names, num_experts=E):
    """(label, chart name, args, kwargs) covering every builder and each option that changes its shape."""
    regime_matrix = np.full((num_experts, len(names)), 1.0 / num_experts).tolist()
    load = df[[f"load_{e}" for e in range(num_experts)]].iloc[-1].tolist()
    empty = df.iloc[:0]
    return [
        ("loss", "loss_chart", (df,), dict(events=EVENTS)),
        ("loss_log_raw", "loss_chart", (df,), dict(smoothing=0.0, log_y=True)),
        ("loss_empty", "loss_chart", (empty,), {}),
        ("entropy", "entropy_chart", (df, num_experts), dict(smoothing=0.6, events=EVENTS)),
        ("entropy_raw", "entropy_chart", (df, num_experts), {}),
        ("entropy_lambda_schedule", "entropy_chart", (with_warmup(df), num_experts), dict(events=EVENTS)),
        ("gate_load", "gate_load_heatmap", (df, num_experts), dict(events=EVENTS)),
        ("gate_load_no_events", "gate_load_heatmap", (df, num_experts), {}),
        ("probe", "probe_heatmap", (gates, labels, names), {}),
        ("probe_unlabelled", "probe_heatmap", (gates, None, None), {}),
        ("probe_none", "probe_heatmap", (None, None, None), {}),
        ("regime_matrix", "regime_matrix_chart", (regime_matrix, names), {}),
        ("utilisation", "utilisation_chart", (load,), {}),
        ("utilisation_dead", "utilisation_chart", ([0.5, 0.3, 0.19, 0.01],), dict(dead_threshold=0.05)),
        ("quadrant", "quadrant_chart", (gates, labels, names), {}),
        ("quadrant_unlabelled", "quadrant_chart", (gates,), {}),
    ]


def inline_data(spec):
    """spec with each {"data": {"name": ...}} replaced by its rows, Altair's generated view names made
    equal and its default-theme config dropped: what is left is what the two paths must share."""
    spec = json.loads(json.dumps(spec))
    datasets = spec.pop("datasets", {})
    spec.pop("config", None)  # the default theme's; st.altair_chart drops it as well
    for node in walk(spec):
        if isinstance(node.get("data"), dict) and "name" in node["data"]:
            node["data"] = {"values": datasets[node["data"]["name"]]}
    return json.loads(re.sub(r'"view_[0-9a-f]+(_[0-9]+)?"', '"view"', json.dumps(spec)))


@pytest.mark.parametrize("num_rows", [1, 60, 5_000])
def test_live_spec_matches_the_altair_chart(num_rows):
    # same marks, encodings, layers, scales and data values; only the dataset names differ
    gates, labels, names = make_probe(num_samples=40)
    for label, name, args, kwargs in live_cases(make_run(num_rows), gates, labels, names):
        altair_spec = getattr(charts, name)(*args, **kwargs).to_dict()
        live = charts.live_spec(name, *args, **kwargs)
        assert inline_data(templates.with_records(live)) == inline_data(altair_spec), label
        for spec in (live, altair_spec):
            assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}, label


def test_live_spec_is_plain_data_and_stays_under_3000_points():
    gates, labels, names = make_probe(num_samples=20_000)
    for label, name, args, kwargs in live_cases(make_run(100_000), gates, labels, names):
        spec = charts.live_spec(name, *args, **kwargs)
        assert all(isinstance(t, pd.DataFrame) for t in spec["datasets"].values()), label
        assert sum(len(t) for t in spec["datasets"].values()) <= 3000, label
        json.dumps(templates.with_records(spec))  # plain JSON once the tables are records


def test_live_spec_builds_a_template_once_per_shape():
    templates.template.cache_clear()
    charts.live_spec("loss_chart", make_run(60), events=EVENTS)
    charts.live_spec("loss_chart", make_run(80, seed=1), events=EVENTS)  # new data, same shape
    assert templates.template.cache_info()[:2] == (1, 1)  # (hits, misses)
    charts.live_spec("loss_chart", make_run(80), events=EVENTS, log_y=True)  # a new shape
    assert templates.template.cache_info()[:2] == (1, 2)


def test_live_spec_fills_data_dependent_domains_and_hands_out_copies():
    def y_domains(spec):
        return [n["domain"] for n in walk(spec) if "domain" in n and n.get("nice") is False]

    tall = charts.live_spec("utilisation_chart", [0.7, 0.1, 0.1, 0.1])
    tall["layer"].clear()  # a caller's change must not reach the cached template
    flat = charts.live_spec("utilisation_chart", [0.25] * 4)
    assert tall["usermeta"] and flat["layer"]
    assert y_domains(flat) and all(d == [0, pytest.approx(0.3)] for d in y_domains(flat))  # 1.2 x 1/E
    np.testing.assert_allclose(y_domains(charts.live_spec("utilisation_chart", [0.7, 0.1, 0.1, 0.1]))[0],
                               [0, 0.85])  # 1.2 x 0.7, up to a whole Y_MAX_STEP


def test_a_live_view_draws_from_fewer_points_and_an_ended_one_from_all():
    """ui.live.chart_calls(live=True) gives the loss and entropy charts LIVE_BUDGET's points and the load
    heatmap its columns; without live they draw at the full budget (the Runs page, a finished run)."""
    from ui.live import LIVE_BUDGET, chart_calls
    from ui.shared_runs import RunView

    view = RunView("r", metrics=make_run(5_000), info={"num_experts": E})
    rows = {}
    for live in (False, True):
        for slot, call in chart_calls(view, 0.6, live).items():
            spec = charts.live_spec(call.name, *call.args, **call.kwargs)
            rows[live, slot] = sum(len(table) for table in spec["datasets"].values())
    for slot, limit in (("loss", LIVE_BUDGET["loss"]["max_points"]), ("entropy", LIVE_BUDGET["entropy"]["max_points"]),
                        ("gate_load", LIVE_BUDGET["gate_load"]["max_columns"] * E)):
        assert rows[True, slot] <= limit and rows[True, slot] < 0.6 * rows[False, slot], slot
    assert rows[False, "entropy"] <= chart_style.MAX_POINTS
    assert rows[True, "utilisation"] == rows[False, "utilisation"]  # charts of one snapshot are not reduced
