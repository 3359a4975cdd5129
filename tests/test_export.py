"""lfm.store.export and the SVG export: what the Runs page's download buttons hand out opens where it should.

The acceptance checks of issue 4: the metrics open in pandas, the two config files train again with
`python -m lfm train --hyperparameters ... --training ...`, the checkpoint loads with
torch.load(weights_only=True); and every chart comes out as an SVG file.
"""

import importlib.util
import json
import re
import shutil

import pandas as pd
import pytest
import torch

from lfm.cli import main
from lfm.config import FIELDS, RunConfig
from lfm.training.experiment import execute, prepare_run
from lfm.lab.explore import gate_report, load_uploaded_checkpoint
from lfm.store.export import (CONFIG_FILES, checkpoint_file_name, config_files, export_files, metrics_file_name,
                              provenance_file_name)
from lfm.store import CHECKPOINT_KEYS, RunReader
from support import open_app

TINY = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_samples": 64, "batch_size": 16,
        "num_epochs": 1, "log_every": 1, "lambda_entropy": 0.25, "learning_rate": 0.002}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(reader, run_id, config) of one tiny finished run."""
    runs_dir = tmp_path_factory.mktemp("runs")
    cfg = RunConfig().with_overrides(TINY)
    run = prepare_run(cfg, runs_dir, name="export me")
    execute(run)
    return RunReader(runs_dir), run.run_id, cfg


def test_export_files_names(finished):
    reader, run_id, _ = finished
    files = export_files(reader, run_id)
    assert list(files) == [metrics_file_name(run_id), *CONFIG_FILES, provenance_file_name(run_id),
                           checkpoint_file_name(run_id)]
    assert metrics_file_name(run_id) == f"{run_id}-metrics.csv"


def test_metrics_csv_opens_in_pandas(finished, tmp_path):
    reader, run_id, _ = finished
    path = tmp_path / metrics_file_name(run_id)
    path.write_bytes(export_files(reader, run_id)[path.name])
    table = pd.read_csv(path)
    expected = reader.read_metrics(run_id)
    assert len(table) == len(expected) == 4  # 48 training windows / batch 16, one record per step
    assert list(table.columns) == list(expected.columns)
    assert {"step", "loss", "routing_entropy", "load_0", "load_3"} <= set(table.columns)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_config_files_are_the_seeds_format(finished):
    _, _, cfg = finished
    files = config_files(cfg)
    for name, group in zip(CONFIG_FILES, ("hyperparameters", "training")):
        text = files[name].decode("utf-8")
        values = json.loads(text)
        assert list(values) == [f.name for f in FIELDS if f.group == group]  # every key, in FIELDS order
        assert text == json.dumps(values, indent=4) + "\n"
    assert json.loads(files["hyperparameters.json"])["lambda_entropy"] == 0.25


def test_config_files_train_again_with_the_cli(finished, tmp_path):
    reader, run_id, cfg = finished
    files = export_files(reader, run_id)
    for name in CONFIG_FILES:
        (tmp_path / name).write_bytes(files[name])
    again = tmp_path / "again"
    status = main(["train", "--quiet", "--hyperparameters", str(tmp_path / "hyperparameters.json"),
                   "--training", str(tmp_path / "training.json"), "--set", "num_epochs=1",
                   "--runs-dir", str(again)])
    assert status == 0
    (rerun,) = RunReader(again).list_runs()
    assert rerun.state == "finished"
    assert RunConfig.from_dict(rerun.config) == cfg  # the same settings, read back from the two files


def test_checkpoint_loads_with_weights_only(finished, tmp_path):
    reader, run_id, cfg = finished
    path = tmp_path / checkpoint_file_name(run_id)
    path.write_bytes(export_files(reader, run_id)[path.name])
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(ckpt) and ckpt["step"] == 4
    loaded = load_uploaded_checkpoint(path.read_bytes(), path.name)  # and the Explore page takes it
    assert loaded.config == cfg
    assert gate_report(loaded.model, torch.zeros(2, cfg.training.sequence_length, 1)).gate_probs.shape == (2, 4)


def test_a_run_without_checkpoint_exports_the_rest(finished):
    reader, run_id, _ = finished
    copy = reader.path(run_id).with_name("copy-without-checkpoint")
    shutil.copytree(reader.path(run_id), copy)
    (copy / "checkpoint.pt").unlink()
    (copy / "provenance.json").unlink()  # as in a run recorded before provenance existed
    files = export_files(reader, copy.name)
    assert list(files) == [metrics_file_name(copy.name), *CONFIG_FILES]


def test_every_chart_exports_as_svg(finished):
    pytest.importorskip("vl_convert")
    from ui import run_charts as charts
    from ui.explore_charts import gate_bars, interpolation_chart, svg_bytes

    reader, run_id, _ = finished
    metrics, (snapshot,) = reader.read_metrics(run_id), reader.read_gates(run_id, last_only=True)
    for chart in (charts.loss_chart(metrics), charts.entropy_chart(metrics, 4),
                  charts.probe_heatmap(snapshot["probe_gates"]),
                  gate_bars([[0.7, 0.1, 0.1, 0.1]], ["#0 sine"]),
                  interpolation_chart([0.0, 1.0], [[1, 0, 0, 0], [0, 1, 0, 0]], [0.0, 0.0], current_t=0.5)):
        svg = svg_bytes(chart, width=640).decode("utf-8")
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
        width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
        assert 640 <= width < 800  # the container width became the 640 pixels asked for, plus axes and legend
        assert 'fill="white"' in svg[:600]  # a white background, readable in any viewer


def test_the_runs_page_offers_every_export(finished, monkeypatch):
    reader, _, _ = finished
    monkeypatch.setenv("LFM_RUNS_DIR", str(reader.runs_dir))
    at = open_app("pages/runs.py")
    assert not at.exception and not at.error
    labels = [b.label for b in at.get("download_button")]
    assert labels[:6] == ["Metrics (CSV)", "hyperparameters.json", "training.json", "Checkpoint (.pt)",
                          "TensorBoard (zip)", "Provenance (JSON)"]
    if importlib.util.find_spec("vl_convert"):
        # one SVG per chart of the page, titled as on the page, in the page's order
        assert labels[6:-1] == ["Loss", "Gate entropies", "Expert load over training", "Probe batch: each sample's gate",
                                "Expert × regime", "Expert utilisation", "Entropy / varentropy quadrant"]
        assert labels[-1].startswith("Replay as GIF")  # the replay's, under the charts
