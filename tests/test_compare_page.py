"""AppTests of the lambda lab's pages, Compare and Sweep λ: empty store, real runs, a sweep of three tiny
runs launched from the page to its summary chart, and refused sweep input."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from lfm.config import RunConfig
from lfm.training.experiment import execute, prepare_run
from lfm.store import RunReader
from support import open_app, wait_for_runs
from tiny import TINY_SETTINGS
from ui.text import shown

TINY = TINY_SETTINGS


def page(name: str) -> AppTest:
    at = open_app(name)
    assert not at.exception
    return at


def train(runs_dir, name, group=None, **overrides):
    run = prepare_run(RunConfig().with_overrides({**TINY, **overrides}), runs_dir, name=name,
                      meta={"group": group} if group else None)
    assert execute(run).status == "finished"
    return run.run_id


def chart_tables(chart) -> list[pd.DataFrame]:
    """The data of a chart element as Streamlit sends it: Arrow tables (an Altair chart's datasets)."""
    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]


def summary_chart(at):
    """The sweep summary chart: the one drawn as two panels side by side."""
    return next(c for c in at.get("vega_lite_chart") if "hconcat" in json.loads(c.proto.spec))


@pytest.mark.parametrize("name, empty_text", [("pages/compare.py", "No runs yet"), ("pages/sweep.py", "No sweeps yet")])
def test_pages_render_with_no_runs(runs_dir, name, empty_text):
    at = page(name)
    assert any(empty_text in i.value for i in at.info)


def test_compare_shows_the_newest_sweep_and_filters(runs_dir):
    single = train(runs_dir, "single", lambda_entropy=0.1)
    swept = [train(runs_dir, f"s{k}", group="sweep-abcd", lambda_entropy=lam) for k, lam in enumerate((-0.4, 0.4))]
    at = page("pages/compare.py")
    # default selection: the newest sweep's runs; curves, table (ordered by λ) and matrices are drawn
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(swept)
    assert len(at.get("vega_lite_chart")) == 3  # loss curves, entropy curves, expert × regime multiples
    table = at.dataframe[0].value
    assert table["run_id"].tolist() == swept and table["lambda_entropy"].tolist() == [-0.4, 0.4]
    assert at.get("download_button")
    curves = chart_tables(at.get("vega_lite_chart")[0])[0]
    assert set(curves["run_id"]) == set(swept) and set(curves["lambda_entropy"]) == {-0.4, 0.4}
    # the sweep filter: runs outside a sweep; the selection goes back to that filter's default
    at.selectbox(key="compare_group").set_value("(runs outside a sweep)").run()
    assert at.multiselect(key="compare_runs").value == [single]
    assert at.dataframe[0].value["run_id"].tolist() == [single]
    # an empty selection, and filters that match nothing, are explained
    at.multiselect(key="compare_runs").set_value([]).run()
    assert any("Pick one or more runs" in i.value for i in at.info)
    at.selectbox(key="compare_group").set_value("(any run)")
    at.slider(key="compare_lambdas").set_value((0.2, 0.3)).run()
    assert any("No run matches the filters" in i.value for i in at.info)
    assert not at.exception


def test_a_sweep_of_three_tiny_runs_completes_and_is_summarised(runs_dir):
    at = page("pages/sweep.py")
    for key, value in TINY.items():
        at.number_input(key=key).set_value(value)
    at.number_input(key="sweep_low").set_value(-0.5)
    at.number_input(key="sweep_high").set_value(0.5)
    at.number_input(key="sweep_n").set_value(3)
    at.text_input(key="sweep_seeds").set_value("0")
    at.run()
    assert any("3 λ × 1 balance × 1 seed = 3 runs" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Launch").click().run()
    assert not at.exception
    runs = wait_for_runs(runs_dir, ("finished",), count=3, timeout=30)
    assert len({r.meta["group"] for r in runs}) == 1
    assert sorted(r.config["hyperparameters"]["lambda_entropy"] for r in runs) == [-0.5, 0.0, 0.5]
    at.run()
    assert not at.exception
    assert any("3 of 3 runs done" in p.proto.text for p in at.get("progress"))
    # one mark per run: the table of run points behind both panels has three rows
    (points,) = [t for t in chart_tables(summary_chart(at)) if "run_id" in t.columns]
    assert len(points) == 3 and sorted(points["lambda_entropy"]) == [-0.5, 0.0, 0.5]
    assert len(at.dataframe[-1].value) == 3


@pytest.mark.parametrize("key, value, words", [
    ("sweep_n", 0, "n = 0"),
    ("sweep_low", 20.0, "lambda_low = 20"),
    ("sweep_high", -1.0, "above lambda_high"),
    ("sweep_seeds", "0, x", "seed"),
    ("sweep_balances", "0, 11", "balance_coef"),
    ("sweep_n", 31, "62 runs"),  # 31 λ × 2 seeds: over the cap
])
def test_invalid_sweep_input_is_refused_and_nothing_launches(runs_dir, key, value, words):
    at = page("pages/sweep.py")
    widget = at.number_input(key=key) if key in ("sweep_n", "sweep_low", "sweep_high") else at.text_input(key=key)
    widget.set_value(value).run()
    assert any(words in shown(e.value) for e in at.error), [e.value for e in at.error]
    assert next(b for b in at.button if b.label == "Launch").disabled
    assert not runs_dir.exists() or not RunReader(runs_dir).list_runs()


# ---- the charts these pages draw (ui.lab_charts), checked on their specs --------------------------

def rows_of(chart) -> int:
    return sum(len(rows) for rows in chart.to_dict()["datasets"].values())


def test_curves_chart_keeps_to_the_point_budget_and_colours_by_lambda():
    from ui.lab_charts import MAX_POINTS, compare_curves_chart

    steps = 5000
    long = pd.concat([pd.DataFrame({"run_id": f"r{k}", "run": f"run {k}", "lambda_entropy": k / 10 - 1,
                                    "balance_coef": 0.0, "seed": 0, "step": range(1, steps + 1),
                                    "loss": [1 / s for s in range(1, steps + 1)]}) for k in range(20)])
    spec = compare_curves_chart(long, "loss", smoothing=0.6).to_dict()
    assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}
    assert rows_of(compare_curves_chart(long, "loss")) <= MAX_POINTS + 20 * 2  # each run keeps its last row
    assert spec["encoding"]["color"]["field"] == "lambda_entropy" and spec["encoding"]["detail"]["field"] == "run_id"
    assert "no validation loss" in json.dumps(compare_curves_chart(long, "val_loss").to_dict())


def test_summary_chart_draws_finished_runs_and_their_means():
    from ui.lab_charts import sweep_summary_chart

    table = pd.DataFrame({"run_id": list("abcde"), "name": list("abcde"), "state": ["finished"] * 4 + ["running"],
                          "lambda_entropy": [-0.5, -0.5, 0.05, 0.5, 0.5], "balance_coef": 0.0,
                          "seed": pd.array([0, 1, 0, 0, 1], dtype="Int64"), "val_loss": [1.0, 3.0, 2.0, 4.0, 9.0],
                          "routing_entropy": 1.0, "specialisation": 0.5,
                          "num_experts": pd.array([4] * 5, dtype="Int64")})
    spec = sweep_summary_chart(table).to_dict()
    assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}
    tables = list(spec["datasets"].values())
    (points,) = [t for t in tables if "run_id" in t[0]]
    assert sorted(p["run_id"] for p in points) == list("abcd")  # the running run has no dot yet
    (means,) = [t for t in tables if t[0].get("column") == "val_loss"]  # lfm.store.seeds.seed_bands
    assert [(m["lambda_entropy"], m["mean"], m["seeds"]) for m in means] == [(-0.5, 2.0, 2), (0.05, 2.0, 1),
                                                                              (0.5, 4.0, 1)]
    assert spec["hconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["type"] == "symlog"  # 0.05 .. 0.5: a log grid
    linear = sweep_summary_chart(table.assign(lambda_entropy=[-0.5, -0.5, 0.0, 0.5, 0.5])).to_dict()
    assert "type" not in linear["hconcat"][0]["layer"][0]["encoding"]["x"]["scale"]
    assert "as the sweep's runs finish" in json.dumps(sweep_summary_chart(table.assign(state="running")).to_dict())


def test_summary_chart_bands_span_the_seeds_only_when_there_are_several():
    from ui.lab_charts import sweep_summary_chart

    table = pd.DataFrame({"run_id": list("abcd"), "name": list("abcd"), "state": "finished",
                          "lambda_entropy": [-0.5, -0.5, 0.5, 0.5], "balance_coef": 0.0,
                          "seed": pd.array([0, 1, 0, 1], dtype="Int64"), "val_loss": [1.0, 3.0, 2.0, 4.0],
                          "routing_entropy": [1.0, 1.5, 0.2, 0.4], "specialisation": 0.5,
                          "num_experts": pd.array([4] * 4, dtype="Int64")})
    spec = sweep_summary_chart(table).to_dict()
    loss_band = [l for l in spec["hconcat"][0]["layer"] if l["mark"]["type"] == "area"]
    bits_band = [l for l in spec["hconcat"][1]["layer"] if l["mark"]["type"] == "area"]
    assert len(loss_band) == 1 and len(bits_band) == 1
    (spread,) = [t for t in spec["datasets"].values() if "series" in t[0]]  # the entropies' bands
    routing = sorted((r["lambda_entropy"], r["low"], r["high"]) for r in spread if r["series"] == "routing entropy")
    assert routing == [(-0.5, 1.0, 1.5), (0.5, 0.2, 0.4)]
    one_seed = sweep_summary_chart(table[table["seed"] == 0]).to_dict()
    assert not [l for panel in one_seed["hconcat"] for l in panel["layer"] if l["mark"]["type"] == "area"]


def test_small_multiples_are_ordered_by_lambda():
    from ui.lab_charts import matrix_small_multiples

    eye = [[1.0, 0.0], [0.0, 1.0]]
    spec = matrix_small_multiples([eye, eye, None, eye], [0.3, -0.2, 0.0, 0.1], ["up", "down"]).to_dict()
    assert [panel["title"]["text"] for panel in spec["concat"]] == ["λ = -0.2", "λ = 0.1", "λ = 0.3"]
    assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}
    assert "no regime labels" in json.dumps(matrix_small_multiples([None], [0.1], None).to_dict())


def test_grouped_seeds_draw_one_band_per_setting(runs_dir):
    """2 settings x 2 seeds: with "Group seeds" each setting is one mean line in one band over its seeds."""
    runs = {(lam, seed): train(runs_dir, f"λ={lam} seed={seed}", group="sweep-seeds", lambda_entropy=lam, seed=seed)
            for lam in (0.0, 0.5) for seed in (0, 1)}
    at = page("pages/compare.py")
    assert len(at.get("vega_lite_chart")[1].proto.spec) and not at.toggle(key="compare_group_seeds").value
    at.slider(key="compare_smoothing").set_value(0.0)
    at.toggle(key="compare_group_seeds").set_value(True).run()
    assert not at.exception
    entropy = at.get("vega_lite_chart")[1]
    spec = json.loads(entropy.proto.spec)
    areas = [layer for layer in spec["layer"] if layer["mark"]["type"] == "area"]
    assert len(areas) == 1 and areas[0]["encoding"]["detail"]["field"] == "setting"  # one band per setting
    (line,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]  # the mean, with the legend
    assert "mean of 2 seeds" in line["encoding"]["color"]["legend"]["title"]
    (bands,) = chart_tables(entropy)
    assert set(bands["setting"]) == {"λ=0 · b=0", "λ=0.5 · b=0"} and set(bands["runs"]) == {2}
    # unsmoothed, the band is exactly the two seeds' lowest and highest routing entropy at each step
    reader = RunReader(runs_dir)
    for lam, label in ((0.0, "λ=0 · b=0"), (0.5, "λ=0.5 · b=0")):
        seeds = [reader.read_metrics(runs[lam, seed]).set_index("step")["routing_entropy"] for seed in (0, 1)]
        mine = bands[bands["setting"] == label].set_index("step")
        assert list(mine.index) == list(seeds[0].index) and set(mine["seeds"]) == {2}
        assert np.allclose(mine["low"], np.minimum(*seeds)) and np.allclose(mine["high"], np.maximum(*seeds))
        assert np.allclose(mine["mean"], (seeds[0] + seeds[1]) / 2)
    assert any("4 runs in 2 settings" in c.value and "seeds 0, 1" in c.value for c in at.caption)
    # the expert × regime panels: one mean matrix per setting
    titles = [panel["title"]["text"] for panel in json.loads(at.get("vega_lite_chart")[2].proto.spec)["concat"]]
    assert titles == ["λ=0 · b=0 · 2 seeds", "λ=0.5 · b=0 · 2 seeds"]
    at.toggle(key="compare_group_seeds").set_value(False).run()  # back to one line per run
    assert set(chart_tables(at.get("vega_lite_chart")[1])[0]["run_id"]) == set(runs.values())


def test_seeds_chart_keeps_to_the_point_budget_and_says_how_many_seeds():
    from ui.lab_charts import MAX_POINTS, compare_seeds_chart

    steps = 5000
    long = pd.concat([pd.DataFrame({"run_id": f"r{k}-{seed}", "run": f"run {k}", "setting": f"setting {k}",
                                    "lambda_entropy": k / 10 - 1, "balance_coef": 0.0, "seed": seed,
                                    "step": range(1, steps + 1), "loss": [seed + 1 / s for s in range(1, steps + 1)],
                                    "val_loss": [1.0 if s % 1000 == 0 else np.nan for s in range(1, steps + 1)]})
                      for k in range(20) for seed in range(1 + (k == 0) * 2)])  # setting 0 has three seeds
    chart = compare_seeds_chart(long, "loss", smoothing=0.0)
    spec = chart.to_dict()
    assert rows_of(chart) <= MAX_POINTS + 20  # each setting keeps its last row
    (line,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]
    assert line["encoding"]["color"]["legend"]["title"] == "λ · mean of 1–3 seeds"
    (bands,) = spec["datasets"].values()
    first = [row for row in bands if row["setting"] == "setting 0"]
    assert {row["seeds"] for row in first} == {3} and np.allclose([row["high"] - row["low"] for row in first], 2.0)
    dots = compare_seeds_chart(long, "val_loss").to_dict()  # logged once an epoch: a dot per logged value
    assert [layer["mark"]["type"] for layer in dots["layer"]] == ["area", "line", "circle"]
    assert "no routing entropy" in json.dumps(compare_seeds_chart(long, "routing_entropy").to_dict())
