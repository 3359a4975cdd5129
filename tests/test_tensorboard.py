"""lfm.store.tensorboard, read back with TensorBoard's own event reader: right scalars at the right steps,
the lambda change, hparams, gate heatmaps and text; and `python -m lfm export` writing them."""

import io
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("tensorboard")  # requirements-dev.txt installs it; lfm itself works without it
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lfm.cli import main
from lfm.config import RunConfig
from lfm.store import METRIC_COLUMNS, RunReader, provenance
from lfm.store.png import heat_colours
from lfm.store.tensorboard import (HPARAM_METRICS, LAMBDA_CHANGE_TAG, PROBE_IMAGE_TAG, REGIME_IMAGE_TAG, scalar_tag,
                                   TensorBoardLogger, snapshot_indices, tensorboard_zip, tensorboard_zip_name,
                                   write_tensorboard)
from lfm.training.experiment import execute, open_run, prepare_run
from lfm.training.loop import TrainingControl
from tiny import TINY_SETTINGS

NEW_LAMBDA = 0.5


class ChangeLambda:
    """Callback: asks for lambda = NEW_LAMBDA after the second log step, as the dashboard's slider does."""

    def __init__(self, control: TrainingControl):
        self.control = control

    def on_step_end(self, record: dict) -> None:
        if record["step"] == 2:
            self.control.set_lambda(NEW_LAMBDA)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(reader, run_id, live) of a tiny finished run of 12 log steps with one lambda change, which was
    also logged live to TensorBoard into the folder `live`."""
    runs_dir = tmp_path_factory.mktemp("runs")
    cfg = RunConfig().with_overrides({**TINY_SETTINGS, "num_epochs": 3, "lambda_entropy": 0.1})
    prepared = prepare_run(cfg, runs_dir, name="tensorboard")
    writer = open_run(prepared)
    live = tmp_path_factory.mktemp("live") / prepared.run_id
    control = TrainingControl()
    logger = TensorBoardLogger(live, cfg.to_dict(), run_dir=writer.path)
    assert execute(prepared, control=control, callbacks=[ChangeLambda(control), logger]).status == "finished"
    return RunReader(runs_dir), prepared.run_id, live


@pytest.fixture(scope="module")
def run(trained):
    """(reader, run_id) of that run."""
    return trained[:2]


def accumulator(log_dir) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    """(EventAccumulator over the exported run, reader, run_id)."""
    reader, run_id = run
    log_dir = tmp_path_factory.mktemp("tensorboard") / run_id
    (event_file,) = write_tensorboard(reader, run_id, log_dir)
    assert event_file.parent == log_dir and event_file.name.startswith("events.out.tfevents.")
    return accumulator(log_dir), reader, run_id


def test_every_metric_column_has_a_tag():
    tags = [scalar_tag(c) for c in METRIC_COLUMNS if c != "step"] + [scalar_tag(f"load_{e}") for e in range(3)]
    assert None not in tags and len(set(tags)) == len(tags)
    assert scalar_tag("load_entropy") == "entropy/load" and scalar_tag("load_2") == "expert_load/2"
    assert {t.split("/")[0] for t in tags} == {"loss", "entropy", "settings", "progress", "speed", "expert_load"}


def test_every_metric_is_a_scalar_at_its_step(exported):
    events, reader, run_id = exported
    metrics = reader.read_metrics(run_id)
    assert len(metrics) == 12  # 4 steps per epoch (batch 16), 3 epochs, logged every step
    for column in metrics.columns.drop("step"):
        expected = metrics[["step", column]].dropna()
        written = events.Scalars(scalar_tag(column))
        assert [s.step for s in written] == expected["step"].tolist(), column
        assert [s.value for s in written] == pytest.approx(expected[column].tolist(), rel=1e-6), column
    # validation loss is logged about once per epoch: its empty cells in between write nothing
    assert 0 < len(events.Scalars("loss/validation")) < len(events.Scalars("loss/train")) == 12


def test_the_lambda_change_is_marked_at_its_step(exported):
    events, reader, run_id = exported
    (change,) = reader.read_events(run_id)
    assert change["kind"] == "lambda_change"
    (marker,) = events.Scalars(LAMBDA_CHANGE_TAG)
    assert (marker.step, marker.value) == (change["step"], NEW_LAMBDA)
    lambdas = {s.step: s.value for s in events.Scalars("settings/lambda_entropy")}
    assert lambdas[1] == pytest.approx(0.1) and lambdas[12] == pytest.approx(NEW_LAMBDA)


def test_hparams_hold_the_settings_and_the_final_metrics(exported):
    events, reader, run_id = exported
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == [t for t in HPARAM_METRICS]  # every one present
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    config = reader.config(run_id)
    assert session.hparams["lambda_entropy"].number_value == pytest.approx(0.1)  # the setting the run started with
    assert session.hparams["num_experts"].number_value == config["hyperparameters"]["num_experts"]
    assert session.hparams["dataset"].string_value == config["training"]["dataset"]
    assert set(session.hparams) == {*config["hyperparameters"], *config["training"]}
    # the HParams tab shows each metric's last scalar: the run's final value
    last = reader.last_metrics(run_id)
    assert events.Scalars("loss/validation")[-1].value == pytest.approx(last["val_loss"], rel=1e-6)
    assert events.Scalars("entropy/routing")[-1].value == pytest.approx(last["routing_entropy"], rel=1e-6)


def test_gate_heatmaps_are_images_at_evenly_spaced_steps(exported):
    events, reader, run_id = exported
    gates = reader.read_gates(run_id)
    steps = [gates[i]["step"] for i in snapshot_indices(len(gates), 10)]
    assert len(steps) == 10 and steps[0] == 1 and steps[-1] == 12
    for tag, key, transpose in ((PROBE_IMAGE_TAG, "probe_gates", True), (REGIME_IMAGE_TAG, "regime_matrix", False)):
        images = events.Images(tag)
        assert [i.step for i in images] == steps
        last = np.asarray(gates[-1][key], dtype=float)
        matrix = last.T if transpose else last  # rows are experts
        assert (images[-1].height, images[-1].width) == (8 * matrix.shape[0], 8 * matrix.shape[1])
        pixels = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB"))
        assert pixels.shape == (8 * matrix.shape[0], 8 * matrix.shape[1], 3)
        np.testing.assert_array_equal(pixels[::8, ::8], heat_colours(matrix))  # one colour per cell


def test_text_names_the_run_and_its_provenance(exported):
    events, reader, run_id = exported

    def text(tag):
        return events.Tensors(f"{tag}/text_summary")[0].tensor_proto.string_val[0].decode()

    assert run_id in text("run/summary") and "finished" in text("run/summary")
    facts = provenance.read(reader.path(run_id))
    assert facts["git_revision"] is None or facts["git_revision"][:12] in text("run/provenance")
    assert facts["torch"] in text("run/provenance")
    assert "lambda_change" in text("run/events")


def test_snapshot_indices():
    assert snapshot_indices(0, 10) == []
    assert snapshot_indices(3, 10) == [0, 1, 2]
    assert snapshot_indices(100, 10) == [0, 11, 22, 33, 44, 55, 66, 77, 88, 99]
    assert snapshot_indices(100, 1) == [0]


def test_the_zip_unpacks_to_a_folder_named_after_the_run(run, tmp_path):
    reader, run_id = run
    with zipfile.ZipFile(io.BytesIO(tensorboard_zip(reader, run_id))) as archive:
        (name,) = archive.namelist()
        assert name.startswith(f"{run_id}/events.out.tfevents.")
        archive.extractall(tmp_path)
    assert tensorboard_zip_name(run_id) == f"{run_id}-tensorboard.zip"
    events = accumulator(tmp_path / run_id)
    assert len(events.Scalars("loss/train")) == 12


def test_cli_export_writes_tensorboard_files_and_the_run_files(run, tmp_path, capsys):
    reader, run_id = run
    runs_dir = str(reader.runs_dir)
    assert main(["export", run_id, "--tensorboard", str(tmp_path / "tb"), "--files", str(tmp_path / "files"),
                 "--runs-dir", runs_dir]) == 0
    events = accumulator(tmp_path / "tb" / run_id)
    assert [s.step for s in events.Scalars("loss/train")] == list(range(1, 13))
    files = {p.name for p in (tmp_path / "files").iterdir()}
    assert {f"{run_id}-metrics.csv", "hyperparameters.json", "training.json", f"{run_id}-provenance.json",
            f"{run_id}-checkpoint.pt"} == files
    assert json.loads((tmp_path / "files" / f"{run_id}-provenance.json").read_text())["backend"] == "python"
    assert "tensorboard --logdir" in capsys.readouterr().err
    # a second export into the same folder would mix two copies in TensorBoard: refused
    assert main(["export", run_id, "--tensorboard", str(tmp_path / "tb"), "--runs-dir", runs_dir]) == 2
    assert "already holds event files" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["export", "no-such-run", "--tensorboard", "tb"], "no run 'no-such-run'"),
    (["export", "../up", "--tensorboard", "tb"], "invalid run id"),
    (["export", "RUN"], "nothing to export"),
])
def test_cli_export_refuses_bad_input_in_one_line(run, tmp_path, capsys, argv, message):
    reader, run_id = run
    argv = [run_id if a == "RUN" else str(tmp_path / a) if a == "tb" else a for a in argv]
    assert main([*argv, "--runs-dir", str(reader.runs_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lfm: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "tb").exists()



def test_logging_live_writes_what_the_export_writes(trained, exported):
    exported_events, _, _ = exported
    live = accumulator(trained[2])
    tags = exported_events.Tags()
    assert live.Tags()["scalars"] and sorted(live.Tags()["scalars"]) == sorted(tags["scalars"])
    for tag in tags["scalars"]:
        assert [(s.step, s.value) for s in live.Scalars(tag)] == [(s.step, s.value) for s in exported_events.Scalars(tag)]
    for tag in (PROBE_IMAGE_TAG, REGIME_IMAGE_TAG):
        assert ([(i.step, i.encoded_image_string) for i in live.Images(tag)]
                == [(i.step, i.encoded_image_string) for i in exported_events.Images(tag)])
    assert live.PluginTagToContent("hparams") == exported_events.PluginTagToContent("hparams")
    provenance_text = live.Tensors("run/provenance/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "torch" in provenance_text and "started by" in provenance_text


def test_cli_train_logs_to_tensorboard(tmp_path, capsys):
    settings = [f"--set={key}={value}" for key, value in TINY_SETTINGS.items()]
    assert main(["train", "--quiet", "--runs-dir", str(tmp_path / "runs"), "--tensorboard", str(tmp_path / "tb"),
                 *settings]) == 0
    (run,) = RunReader(tmp_path / "runs").list_runs()
    events = accumulator(tmp_path / "tb" / run.run_id)
    assert [s.step for s in events.Scalars("loss/train")] == list(range(1, 5))  # one epoch of 4 steps
    assert [i.step for i in events.Images(PROBE_IMAGE_TAG)] == [1, 2, 3, 4]


def test_cli_train_without_tensorboard_installed_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("lfm.store.tensorboard.AVAILABLE", False)
    assert main(["train", "--quiet", "--runs-dir", str(tmp_path / "runs"), "--tensorboard", str(tmp_path / "tb")]) == 2
    assert "pip install tensorboard" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "tb").exists()  # refused before any run folder
