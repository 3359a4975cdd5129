"""The run store never reads or writes through a link (lfm.store.files.open_file).

On a shared runs folder anyone who can write a run folder could otherwise plant checkpoint.pt -> a
secret file and have the Runs page's download serve it. Each test plants a link (to a file or a folder
outside the store, or a FIFO) in a real run folder and checks that nothing reads the outside file.
"""
import json
import os
import threading

import pytest
import torch

from lfm.lab.explore import CheckpointError, load_run
from lfm.store import RunReader, RunWriter
from lfm.store.checkpoint import load_checkpoint, save_checkpoint
from lfm.store.export import checkpoint_bytes, checkpoint_path, export_files
from lfm.store.files import UnsafeFile, open_file

CONFIG = {"hyperparameters": {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4},
          "training": {"num_samples": 64, "batch_size": 16}}
SECRET = b"root:x:0:0:the secret a link must never reveal\n"
RUN_FILES = ("config.json", "status.json", "info.json", "metrics.csv", "gates.jsonl", "events.jsonl")


@pytest.fixture
def store(tmp_path):
    """(runs_dir, run_id, outside file, outside folder): one ended run with every file and a checkpoint."""
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(SECRET)
    with RunWriter(runs_dir, CONFIG, name="victim", input_features=1) as writer:
        writer.on_train_start({"num_experts": 2, "total_steps": 1})
        writer.on_step_end({"step": 1, "loss": 1.0, "expert_load": [0.5, 0.5]})
        writer.log_event("lambda_change", value=0.3)
        save_checkpoint(writer.path / "checkpoint.pt", torch.nn.Linear(2, 2), CONFIG, 1, 1)
        writer.fail("ended for the test")
    return runs_dir, writer.run_id, secret, outside


def plant_link(run_dir, file_name: str, target) -> None:
    (run_dir / file_name).unlink(missing_ok=True)
    (run_dir / file_name).symlink_to(target)


@pytest.mark.parametrize("target", ["file", "folder"])
def test_a_linked_checkpoint_is_never_served_or_loaded(store, target):
    runs_dir, run_id, secret, outside = store
    reader = RunReader(runs_dir)
    plant_link(reader.path(run_id), "checkpoint.pt", secret if target == "file" else outside)
    assert checkpoint_path(reader, run_id) is None
    assert checkpoint_bytes(reader, run_id) is None
    assert not any(SECRET in data for data in export_files(reader, run_id).values())
    with pytest.raises(ValueError, match="link"):
        load_checkpoint(reader.path(run_id) / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="link"):
        load_run(runs_dir, run_id)


def test_a_plain_checkpoint_is_still_served(store):
    runs_dir, run_id, _, _ = store
    data = checkpoint_bytes(RunReader(runs_dir), run_id)
    assert data and data.startswith(b"PK")  # torch.save's zip archive


@pytest.mark.parametrize("file_name", RUN_FILES)
def test_no_run_file_is_read_through_a_link(store, file_name):
    runs_dir, run_id, secret, _ = store
    reader = RunReader(runs_dir)
    outside_copy = secret.with_name(file_name)  # parseable content, so only the link check can refuse it
    outside_copy.write_bytes((reader.path(run_id) / file_name).read_bytes())
    plant_link(reader.path(run_id), file_name, outside_copy)
    readers = {"config.json": lambda: reader.config(run_id), "status.json": lambda: reader.status(run_id),
               "info.json": lambda: reader.info(run_id), "events.jsonl": lambda: reader.read_events(run_id),
               "gates.jsonl": lambda: reader.read_gates(run_id),
               "metrics.csv": lambda: reader.read_metrics(run_id)}
    with pytest.raises(UnsafeFile, match="link"):
        readers[file_name]()
    if file_name == "metrics.csv":
        for read in (lambda: reader.last_metrics(run_id), lambda: reader.read_new(run_id)):
            with pytest.raises(UnsafeFile):
                read()
    if file_name == "gates.jsonl":
        with pytest.raises(UnsafeFile):
            reader.read_gates(run_id, last_only=True)
        with pytest.raises(UnsafeFile):
            reader.read_new(run_id, gates="last")
    # the run stays listed, as damaged by that file, and nothing read through the link shows
    (listed,) = reader.list_runs()
    assert listed.damage is not None and listed.damage.file == file_name and "link" in listed.problem
    if file_name == "config.json":
        assert listed.name is None and listed.config == {}


def test_a_run_file_linked_to_a_folder_outside_is_refused(store):
    runs_dir, run_id, _, outside = store
    reader = RunReader(runs_dir)
    plant_link(reader.path(run_id), "gates.jsonl", outside)
    with pytest.raises(UnsafeFile):
        reader.read_gates(run_id)


def test_a_run_folder_linked_outside_the_store_is_refused(store, tmp_path):
    runs_dir, run_id, _, _ = store
    elsewhere = tmp_path / "elsewhere-run"
    reader = RunReader(runs_dir)
    reader.path(run_id).rename(elsewhere)  # a complete run, but outside the store
    (runs_dir / run_id).symlink_to(elsewhere, target_is_directory=True)
    assert reader.list_runs() == []
    with pytest.raises(ValueError, match="outside the runs folder"):
        reader.summary(run_id)
    with pytest.raises(ValueError):
        checkpoint_bytes(reader, run_id)
    with pytest.raises(CheckpointError):
        load_run(runs_dir, run_id)


def test_a_fifo_in_a_run_folder_does_not_block_the_reader(store):
    runs_dir, run_id, _, _ = store
    reader = RunReader(runs_dir)
    (reader.path(run_id) / "metrics.csv").unlink()
    os.mkfifo(reader.path(run_id) / "metrics.csv")
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(_raised(lambda: reader.read_metrics(run_id))),
                              daemon=True)
    thread.start()
    thread.join(5)
    assert outcome and isinstance(outcome[0], UnsafeFile), "reading a FIFO blocked or was allowed"


def test_the_writer_does_not_write_through_a_link(store):
    runs_dir, _, secret, _ = store
    writer = RunWriter(runs_dir, CONFIG, name="second")
    (writer.path / "events.jsonl").symlink_to(secret)  # planted before the first event is written
    with pytest.raises(UnsafeFile):
        writer.log_event("lambda_change", value=0.1)
    writer.close()
    assert secret.read_bytes() == SECRET


def test_open_file_reads_and_appends_plain_files(tmp_path):
    path = tmp_path / "plain.jsonl"
    with open_file(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"a": 1}) + "\n")
    with open_file(path, "r", encoding="utf-8") as f:
        assert json.loads(f.readline()) == {"a": 1}
    with pytest.raises(FileNotFoundError):
        open_file(tmp_path / "missing", "rb")


def _raised(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects which one
        return exc
    return None


def test_a_command_is_never_appended_through_a_link(tmp_path):
    from lfm.store.control import CONTROL_FILE, send_command

    runs_dir, secret = tmp_path / "runs", tmp_path / "secret"
    secret.write_bytes(SECRET)
    writer = RunWriter(runs_dir, CONFIG, name="steered")  # running: it takes commands
    (writer.path / CONTROL_FILE).symlink_to(secret)
    with pytest.raises(UnsafeFile):
        send_command(runs_dir, writer.run_id, "pause")
    writer.close()
    assert secret.read_bytes() == SECRET
