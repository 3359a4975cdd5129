"""Tests for lfm/runs.py: the run store's layout, incremental reads, states, crash safety, path safety and
checkpoints. Driven with hand-made info/record dicts and a tiny nn.Module, independent of lfm.training.loop/model."""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lfm.store.checkpoint import load_checkpoint, save_checkpoint
from lfm.store import (METRIC_COLUMNS, RunReader, RunWriter, run_path,
                      slugify)

REPO = Path(__file__).resolve().parents[1]
E, K, P = 3, 2, 4  # experts, regimes, probe samples
CONFIG = {"hyperparameters": {"token_dim": 8, "num_experts": E, "lambda_entropy": 0.01},
          "training": {"batch_size": 4, "log_every": 10}}
INFO = {"total_steps": 50, "num_experts": E, "regime_names": ["sine", "square"], "probe_labels": [0, 0, 1, 1],
        "device": "cpu", "num_parameters": 123}


def make_record(step: int, val_loss: float | None = None) -> dict:
    """A step record shaped like lfm.training.loop's, with values that encode the step so rows are recognisable."""
    load = [0.5, 0.3, 0.2]
    return {"step": step, "epoch": step // 20, "total_steps": 50, "time_s": step * 0.01,
            "samples_per_s": 1000.0 + step, "lambda_entropy": 0.01, "balance_coef": 0.0,
            "loss": 1.0 / step, "total_loss": 1.0 / step + 0.01, "val_loss": val_loss,
            "routing_entropy": 1.2, "load_entropy": 1.5, "specialisation": 0.3, "varentropy": 0.1,
            "mi_regime": None, "expert_load": load,
            "regime_matrix": [[0.6, 0.4], [0.3, 0.3], [0.1, 0.3]],
            "probe_gates": [[1 / step, 1 - 1 / step, 0.0]] * P}


def result(status="finished", reason="", steps=50):
    return SimpleNamespace(status=status, reason=reason, steps=steps, last_record=None, elapsed_s=1.0)


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 4))


@pytest.fixture
def writer(tmp_path):
    w = RunWriter(tmp_path / "runs", CONFIG, name="My run: λ=0.3!", input_features=4)
    yield w
    w.close()


def test_writer_creates_layout(writer, tmp_path):
    writer.on_train_start(INFO)
    for step in (10, 20):
        writer.on_step_end(make_record(step))
    writer.on_train_end(result(), tiny_model())
    path = writer.path
    assert path.parent == (tmp_path / "runs").resolve()
    assert {p.name for p in path.iterdir()} == {"config.json", "info.json", "metrics.csv", "gates.jsonl",
                                                 "status.json", "checkpoint.pt"}
    config = json.loads((path / "config.json").read_text())
    assert config["name"] == "My run: λ=0.3!"  # verbatim, only the id is sanitised
    assert config["hyperparameters"] == CONFIG["hyperparameters"] and config["created"]
    assert json.loads((path / "info.json").read_text()) == INFO
    reader = RunReader(tmp_path / "runs")
    assert reader.info(writer.run_id) == INFO and reader.config(writer.run_id) == CONFIG
    gates = [json.loads(line) for line in (path / "gates.jsonl").read_text().splitlines()]
    assert [g["step"] for g in gates] == [10, 20]
    assert gates[1]["probe_gates"][0] == [0.05, 0.95, 0.0] and gates[0]["regime_matrix"][0] == [0.6, 0.4]
    assert writer.run_id.split("-")[2:-1] == ["my", "run", "0", "3"]  # "<date>-<time>-<slug>-<hex>"


def test_metrics_readable_by_pandas(writer, tmp_path):
    writer.on_train_start(INFO)
    writer.on_step_end(make_record(10))
    writer.on_step_end(make_record(20, val_loss=0.25))
    bad = make_record(30)
    bad["loss"] = float("nan")
    writer.on_step_end(bad)
    reader = RunReader(tmp_path / "runs")
    df = reader.read_metrics(writer.run_id)
    assert list(df.columns) == [*METRIC_COLUMNS, "load_0", "load_1", "load_2"]
    assert df["step"].tolist() == [10, 20, 30] and df["step"].dtype.kind == "i"
    assert df["loss"].iloc[0] == pytest.approx(0.1) and math.isnan(df["loss"].iloc[2])
    assert math.isnan(df["val_loss"].iloc[0]) and df["val_loss"].iloc[1] == 0.25  # None -> empty cell -> NaN
    assert df["mi_regime"].isna().all()
    assert df[["load_0", "load_1", "load_2"]].iloc[1].tolist() == [0.5, 0.3, 0.2]
    last = reader.last_metrics(writer.run_id)
    assert last["step"] == 30 and last["val_loss"] is None and last["load_2"] == 0.2


def test_header_from_first_record_without_train_start(writer, tmp_path):
    writer.on_step_end(make_record(10))
    df = RunReader(tmp_path / "runs").read_metrics(writer.run_id)
    assert list(df.columns)[-3:] == ["load_0", "load_1", "load_2"] and len(df) == 1


def test_read_new_returns_only_new_rows(writer, tmp_path):
    reader = RunReader(tmp_path / "runs")
    rid = writer.run_id
    df, gates = reader.read_new(rid)  # before anything is written
    assert df.empty and gates == []
    writer.on_train_start(INFO)
    df, gates = reader.read_new(rid)  # header only
    assert df.empty and gates == []
    writer.on_step_end(make_record(10))
    writer.on_step_end(make_record(20))
    df, gates = reader.read_new(rid)
    assert df["step"].tolist() == [10, 20] and [g["step"] for g in gates] == [10, 20]
    assert "load_1" in df.columns
    df, gates = reader.read_new(rid)
    assert df.empty and gates == []
    writer.on_step_end(make_record(30))
    df, gates = reader.read_new(rid)
    assert df["step"].tolist() == [30] and [g["step"] for g in gates] == [30]
    assert list(df.columns) == list(reader.read_metrics(rid).columns)

    # a writer caught mid-line: the partial lines are not returned until their newline arrives
    row = ",".join(["40"] + ["1.5"] * (len(METRIC_COLUMNS) - 1 + E))
    gate = json.dumps({"step": 40, "probe_gates": [[0.5, 0.5, 0.0]], "regime_matrix": None})
    with open(writer.path / "metrics.csv", "a") as m, open(writer.path / "gates.jsonl", "a") as g:
        m.write(row[:7]), g.write(gate[:9])
    df, gates = reader.read_new(rid)
    assert df.empty and gates == []
    assert reader.read_metrics(rid)["step"].tolist() == [10, 20, 30]
    assert reader.last_metrics(rid)["step"] == 30 and reader.read_gates(rid, last_only=True)[0]["step"] == 30
    with open(writer.path / "metrics.csv", "a") as m, open(writer.path / "gates.jsonl", "a") as g:
        m.write(row[7:] + "\n"), g.write(gate[9:] + "\n")
    df, gates = reader.read_new(rid)
    assert df["step"].tolist() == [40] and df["load_2"].tolist() == [1.5] and gates[0]["step"] == 40
    # a second reader starts from the top; reset makes this one start over too
    assert RunReader(tmp_path / "runs").read_new(rid)[0]["step"].tolist() == [10, 20, 30, 40]
    reader.reset(rid)
    assert len(reader.read_new(rid)[0]) == 4


@pytest.mark.parametrize("state", ["finished", "stopped", "diverged", "failed"])
def test_status_transitions(tmp_path, state):
    reader = RunReader(tmp_path / "runs")
    writer = RunWriter(tmp_path / "runs", CONFIG, heartbeat_s=0.0)
    rid = writer.run_id
    status = reader.status(rid)
    assert status["state"] == "running" and status["pid"] == os.getpid() and status["ended"] is None
    writer.on_train_start(INFO)
    assert reader.status(rid)["total_steps"] == 50
    writer.on_step_end(make_record(10))
    assert reader.status(rid)["step"] == 10  # heartbeat_s=0: every record refreshes status.json
    writer.on_train_end(result(state, reason=f"because {state}", steps=17), None)
    status = reader.status(rid)
    assert (status["state"], status["reason"], status["step"]) == (state, f"because {state}", 17)
    assert status["ended"] and not (writer.path / "checkpoint.pt").exists()  # no model given
    writer.fail("too late")  # after the end: no effect
    assert reader.status(rid)["state"] == state
    assert reader.list_runs()[0].state == state


def test_fail_and_context_manager(tmp_path):
    reader = RunReader(tmp_path / "runs")
    w1 = RunWriter(tmp_path / "runs", CONFIG, name="a")
    w1.fail("dataset not found")
    assert reader.status(w1.run_id)["state"] == "failed"
    assert reader.status(w1.run_id)["reason"] == "dataset not found"
    with pytest.raises(RuntimeError):
        with RunWriter(tmp_path / "runs", CONFIG, name="b") as w2:
            raise RuntimeError("boom")
    status = reader.status(w2.run_id)
    assert (status["state"], status["reason"]) == ("failed", "RuntimeError: boom")
    with pytest.raises(KeyboardInterrupt):
        with RunWriter(tmp_path / "runs", CONFIG, name="c") as w3:
            raise KeyboardInterrupt
    assert reader.status(w3.run_id)["state"] == "stopped"


def test_interrupted_detection(writer, tmp_path):
    reader = RunReader(tmp_path / "runs", stale_after_s=60)
    status_path = writer.path / "status.json"
    assert reader.status(writer.run_id)["state"] == "running"  # our own pid is alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    status = json.loads(status_path.read_text())
    status_path.write_text(json.dumps({**status, "pid": dead.pid}))
    assert reader.status(writer.run_id)["state"] == "interrupted"
    assert reader.status(writer.run_id)["recorded_state"] == "running"
    # another host: only the heartbeat tells
    status_path.write_text(json.dumps({**status, "hostname": "elsewhere", "updated": time.time() - 5}))
    assert reader.status(writer.run_id)["state"] == "running"
    status_path.write_text(json.dumps({**status, "hostname": "elsewhere", "updated": time.time() - 600}))
    assert reader.list_runs()[0].state == "interrupted"


def test_kill_9_keeps_every_record(tmp_path):
    runs = tmp_path / "runs"
    records = [make_record(step) for step in range(10, 60, 10)]
    code = f"""
import json, os, signal, sys
sys.path.insert(0, {str(REPO)!r})
from lfm.store import RunWriter
w = RunWriter({str(runs)!r}, json.loads({json.dumps(CONFIG)!r}), name="doomed")
w.on_train_start(json.loads({json.dumps(INFO)!r}))
for record in json.loads({json.dumps(records)!r}):
    w.on_step_end(record)
w.log_event("lambda_change", value=0.3)
print(w.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    run_id = proc.stdout.strip()
    reader = RunReader(runs)
    (summary,) = reader.list_runs()
    assert (summary.run_id, summary.name, summary.state) == (run_id, "doomed", "interrupted")
    assert summary.last_metrics["step"] == 50
    assert reader.read_metrics(run_id)["step"].tolist() == [10, 20, 30, 40, 50]
    assert [g["step"] for g in reader.read_gates(run_id)] == [10, 20, 30, 40, 50]
    (event,) = reader.read_events(run_id)
    assert (event["step"], event["kind"], event["value"]) == (50, "lambda_change", 0.3)


def test_events(writer, tmp_path):
    writer.on_step_end(make_record(120))
    event = writer.log_event("lambda_change", value=0.3)
    writer.log_event("note", step=7, text="hello")
    events = RunReader(tmp_path / "runs").read_events(writer.run_id)
    assert events[0] == event
    assert (event["step"], event["kind"], event["value"]) == (120, "lambda_change", 0.3)
    assert (events[1]["step"], events[1]["text"]) == (7, "hello")
    writer.on_lambda_change({"step": 130, "kind": "lambda_change", "value": 0.5})  # lfm.training.loop's callback
    last = RunReader(tmp_path / "runs").read_events(writer.run_id)[-1]
    assert (last["step"], last["kind"], last["value"]) == (130, "lambda_change", 0.5)


@pytest.mark.parametrize("bad_id", ["../../etc", "/abs", "a/../b", "a/b", "..", ".hidden", "", "a..b",
                                    "run\n", "x" * 122, "a\\b", None])
def test_bad_run_ids_rejected(tmp_path, bad_id):
    with pytest.raises(ValueError):
        run_path(tmp_path, bad_id)
    reader = RunReader(tmp_path)
    for method in (reader.read_metrics, reader.read_new, reader.status, reader.config, reader.read_events):
        with pytest.raises(ValueError):
            method(bad_id)


def test_symlink_out_of_runs_rejected(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "sneaky").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        run_path(tmp_path / "runs", "sneaky")


@pytest.mark.parametrize("name,slug", [
    ("../../etc", "etc"), ("/abs", "abs"), ("../..", "run"), (None, "run"),
    ("Größe über alles", "groe-uber-alles"),  # NFKD: ö -> o, ß has no ASCII form and is dropped
    ("a" * 60, "a" * 40), ("x" * 39 + "!y", "x" * 39),  # cut at 40, no trailing "-"
])
def test_names_are_sanitised(tmp_path, name, slug):
    assert slugify(name) == slug
    w = RunWriter(tmp_path / "runs", CONFIG, name=name)
    assert w.path.parent == (tmp_path / "runs").resolve() and f"-{slug}-" in w.run_id
    assert RunReader(tmp_path / "runs").list_runs()[0].name == name
    assert not (tmp_path / "etc").exists() and not Path("/abs").exists()


def test_run_ids_unique_and_listing_newest_first(tmp_path):
    runs = tmp_path / "runs"
    ids = [RunWriter(runs, CONFIG, name="same").run_id for _ in range(5)]
    assert len(set(ids)) == 5
    (runs / "not-a-run").mkdir()  # no config.json
    (runs / "notes.txt").write_text("hi")
    config = json.loads((runs / ids[0] / "config.json").read_text())
    (runs / ids[0] / "config.json").write_text(json.dumps({**config, "created": "2000-01-01T00:00:00+00:00"}))
    listed = RunReader(runs).list_runs()
    assert len(listed) == 5 and listed[-1].run_id == ids[0]
    assert listed[0].config == CONFIG and listed[0].last_metrics is None
    assert RunReader(tmp_path / "nothing-here").list_runs() == []


def test_checkpoint_round_trip(writer):
    model = tiny_model()
    writer.on_train_end(result(steps=42), model)
    ckpt = torch.load(writer.path / "checkpoint.pt", weights_only=True)
    assert ckpt["config"] == CONFIG and ckpt["input_features"] == 4 and ckpt["step"] == 42
    restored = tiny_model()
    for p in restored.parameters():
        torch.nn.init.zeros_(p)
    restored.load_state_dict(load_checkpoint(writer.path)["model_state"])  # a run folder works too
    x = torch.randn(2, 4)
    assert torch.allclose(restored(x), model(x))


def test_checkpoint_failure_is_recorded_not_raised(tmp_path):
    w = RunWriter(tmp_path / "runs", {"training": {}})  # input_features unknown anywhere
    w.on_train_end(result(reason="done"), torch.nn.Linear(2, 2))
    status = RunReader(tmp_path / "runs").status(w.run_id)
    assert status["state"] == "finished" and "checkpoint not saved" in status["reason"]


def test_bad_checkpoints_give_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ValueError, match="garbage.pt is not a readable checkpoint"):
        load_checkpoint(garbage)
    partial = tmp_path / "partial.pt"
    torch.save({"model_state": {}, "step": 1}, partial)
    with pytest.raises(ValueError, match="partial.pt is not an LFM checkpoint: missing config, input_feat"):
        load_checkpoint(partial)
    with pytest.raises(ValueError, match="no checkpoint file at .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    pickled = tmp_path / "pickled.pt"  # arbitrary objects are refused by weights_only=True
    torch.save({"model_state": {}, "config": SimpleNamespace(a=1), "input_features": 1, "step": 1}, pickled)
    with pytest.raises(ValueError, match="pickled.pt is not a readable checkpoint"):
        load_checkpoint(pickled)
    good = save_checkpoint(tmp_path / "good.pt", torch.nn.Linear(2, 2), CONFIG, 2, 3)
    assert load_checkpoint(good)["step"] == 3


def test_load_model_round_trip(tmp_path):
    import lfm.config as config_mod
    import lfm.nn.model as model_mod
    from lfm.store.checkpoint import load_model

    small = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_experts": 2}
    cfg = config_mod.RunConfig.from_dict({"hyperparameters": small, "training": {"sequence_length": 5}})
    torch.manual_seed(0)
    model = model_mod.build_model(cfg, 3)
    w = RunWriter(tmp_path / "runs", cfg.to_dict(), input_features=3)
    w.on_train_end(result(), model)
    loaded, loaded_cfg = load_model(w.path)
    assert loaded_cfg.to_dict() == cfg.to_dict()
    x = torch.randn(2, 5, 3)
    assert torch.allclose(loaded(x), model.eval()(x))


def test_meta_labels_are_kept_apart_from_the_config(tmp_path):
    config = {"hyperparameters": {"token_dim": 8}, "training": {}}
    writer = RunWriter(tmp_path, config, name="a", meta={"group": "sweep-1"})
    summary = RunReader(tmp_path).summary(writer.run_id)
    assert summary.meta == {"group": "sweep-1"} and summary.config == config


def test_read_new_can_return_only_the_newest_gate_snapshot(tmp_path):
    writer = RunWriter(tmp_path, {"hyperparameters": {}, "training": {}})
    writer.on_train_start({"num_experts": 2, "total_steps": 9})
    reader = RunReader(tmp_path)
    for step in (1, 2, 3):
        writer.on_step_end({"step": step, "expert_load": [0.5, 0.5], "probe_gates": [[0.5, 0.5]]})
    rows, gates = reader.read_new(writer.run_id, gates="last")
    assert list(rows["step"]) == [1, 2, 3] and [g["step"] for g in gates] == [3]
    rows, gates = reader.read_new(writer.run_id, gates="last")
    assert rows.empty and gates == []  # nothing new
    with open(writer.path / "gates.jsonl", "a") as f:
        f.write('{"step": 4, "probe_ga')  # a snapshot still being written is not returned
    assert reader.read_new(writer.run_id, gates="last")[1] == []


def test_slugs_keep_the_sign_of_numbers():
    from lfm.store import slugify

    assert slugify("sweep-1a2b λ=-0.5 b=0 seed=1") == "sweep-1a2b-m0-5-b-0-seed-1"
    assert slugify("sweep-1a2b λ=0.5 b=0 seed=1") == "sweep-1a2b-0-5-b-0-seed-1"
    assert slugify("run-2") == "run-2"  # a hyphen between words stays a separator
