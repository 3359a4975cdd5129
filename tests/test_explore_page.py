"""AppTest of the Explore page: with no runs, with a finished tiny run, and with good and bad uploads."""

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lfm.config import RunConfig
from lfm.training.experiment import execute, prepare_run
from support import open_app
from tiny import TINY_SETTINGS
from ui.text import shown

TINY = TINY_SETTINGS


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A runs folder holding one tiny finished run, and that run's folder."""
    runs_dir = tmp_path_factory.mktemp("runs")
    run = prepare_run(RunConfig().with_overrides(TINY), runs_dir, name="tiny")
    execute(run)
    return runs_dir, runs_dir / run.run_id


def explore(runs_dir: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("LFM_RUNS_DIR", str(runs_dir))
    return open_app("pages/explore.py")


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def labelled(widgets, label: str):
    """The widget whose label starts with `label` (the page keys them per data set, so not by key)."""
    return next(w for w in widgets if w.label.startswith(label))


def upload(at: AppTest, name: str, content: bytes) -> None:
    at.radio(key="explore_source").set_value("Upload a checkpoint").run()
    at.file_uploader(key="explore_upload").upload(name, content).run()


def test_renders_with_no_runs(tmp_path, monkeypatch):
    at = explore(tmp_path / "runs", monkeypatch)
    assert not at.exception
    assert any("No run with a checkpoint yet" in i.value for i in at.info)
    assert charts(at) == 0


def test_a_finished_run_shows_its_gates(finished_run, monkeypatch):
    at = explore(finished_run[0], monkeypatch)
    assert not at.exception and not at.error
    # gate bars, prediction, the interpolation path, the gate at t, the blend
    assert charts(at) == 5
    table = at.dataframe[0].value
    assert [name.split()[1] for name in table["sample"]] == ["sine", "square", "sawtooth", "ar1"]  # one of each
    assert table["its probability"].between(0.25, 1).all()  # the largest of 4 probabilities is >= 1/4
    assert any("At t = 0.50: expert" in s.value for s in at.subheader)


@pytest.mark.parametrize("mode", ["By regime and number", "Random"])
def test_every_way_of_picking_samples_draws(finished_run, monkeypatch, mode):
    at = explore(finished_run[0], monkeypatch)
    labelled(at.radio, "Pick samples").set_value(mode).run()
    at.slider(key="explore_t").set_value(0.8).run()
    assert not at.exception and charts(at) == 5
    assert any("At t = 0.80" in s.value for s in at.subheader)


def test_an_invalid_upload_shows_the_message_not_an_exception(finished_run, monkeypatch):
    at = explore(finished_run[0], monkeypatch)
    upload(at, "notes.pt", b"these are my notes, not weights")
    assert not at.exception
    assert any("notes.pt is not a PyTorch checkpoint" in shown(e.value) for e in at.error)
    assert charts(at) == 0


def test_a_valid_upload_is_explored(finished_run, monkeypatch):
    at = explore(finished_run[0], monkeypatch)
    upload(at, "checkpoint.pt", (finished_run[1] / "checkpoint.pt").read_bytes())
    assert not at.exception and not at.error
    assert charts(at) == 5
    assert any("checkpoint.pt" in shown(m.value) and "trained 4 steps" in m.value for m in at.markdown)


def test_data_without_regimes_is_picked_by_index(tmp_path, monkeypatch):
    run = prepare_run(RunConfig().with_overrides({**TINY, "dataset": "random"}), tmp_path / "runs")
    execute(run)
    at = explore(tmp_path / "runs", monkeypatch)
    assert not at.exception and not at.error
    assert labelled(at.radio, "Pick samples").options == ["By index", "Random"]
    assert charts(at) == 5
    labelled(at.number_input, "Sample: window").set_value(3).run()
    assert not at.exception and at.dataframe[0].value["sample"].tolist() == ["#3"]


def test_a_regime_without_validation_windows_is_left_out(tmp_path, monkeypatch):
    # "snow" only in the first rows, so the chronological split leaves it no validation window
    rows = [f"{i % 7 / 7:.3f},{'snow' if i < 5 else 'sun' if i % 2 else 'rain'}" for i in range(120)]
    (tmp_path / "days.csv").write_text("value,label\n" + "\n".join(rows) + "\n")
    cfg = RunConfig().with_overrides({**TINY, "dataset": "csv", "csv_path": str(tmp_path / "days.csv")})
    execute(prepare_run(cfg, tmp_path / "runs"))
    at = explore(tmp_path / "runs", monkeypatch)
    assert not at.exception and not at.error
    assert [name.split()[1] for name in at.dataframe[0].value["sample"]] == ["rain", "sun"]
    assert any("No validation window of snow" in c.value for c in at.caption)
    assert labelled(at.selectbox, "A: regime").options == ["rain", "sun"]


def test_switching_to_a_run_on_other_data_starts_its_widgets_afresh(finished_run, tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    shutil.copytree(finished_run[1], runs_dir / finished_run[1].name)  # the regimes run, and a random-data one
    execute(prepare_run(RunConfig().with_overrides({**TINY, "dataset": "random"}), runs_dir))
    at = explore(runs_dir, monkeypatch)
    labelled(at.number_input, "Sample: window").set_value(11).run()  # random data: picked by index
    regimes_run = finished_run[1].name
    at.selectbox(key="explore_run").set_value(regimes_run).run()
    assert not at.exception and not at.error
    assert labelled(at.selectbox, "A: regime").options == ["sine", "square", "sawtooth", "ar1"]
    assert labelled(at.radio, "Pick samples").value == "One of each regime"
