"""train_model: callbacks and records, controls, divergence, and what lambda does to the gate."""

import math
import threading

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lfm import LFModel, TrainingControl, train_model
from lfm.config import RunConfig
from lfm.data import load_data
from lfm.nn.model import build_model
from support import wait_for


def tiny_loader(n=64, S=5, D=8, labels=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, S, D, generator=g)
    tensors = (x, x.roll(-1, dims=1), torch.arange(n) % 2) if labels else (x, x.roll(-1, dims=1))
    return DataLoader(TensorDataset(*tensors), batch_size=16, shuffle=False)


def tiny_model(lam=0.0, E=3):
    torch.manual_seed(0)
    return LFModel(8, 8, 8, 4, E, lam, sequence_length=5)


class Recorder:
    def __init__(self):
        self.info, self.records, self.result, self.model = None, [], None, None

    def on_train_start(self, info):
        self.info = info

    def on_step_end(self, record):
        self.records.append(record)

    def on_train_end(self, result, model):
        self.result, self.model = result, model


def test_records_every_log_step_with_documented_fields():
    rec = Recorder()
    loader = tiny_loader()
    probe = (next(iter(loader))[0][:6], torch.tensor([0, 0, 0, 1, 1, 1]))
    result = train_model(tiny_model(), loader, 2, 1e-3, callbacks=[rec], log_every=3,
                         val_data=(torch.randn(8, 5, 8), torch.randn(8, 5, 8)), probe=probe, regime_names=["a", "b"])
    assert result.status == "finished" and result.steps == 8
    assert rec.info["total_steps"] == 8 and rec.info["probe_labels"] == [0, 0, 0, 1, 1, 1]
    assert [r["step"] for r in rec.records] == [3, 6, 8]  # every 3 steps, plus the last step
    last = rec.records[-1]
    for key in ("loss", "total_loss", "val_loss", "routing_entropy", "load_entropy", "specialisation",
                "varentropy", "mi_regime", "samples_per_s", "lambda_entropy", "epoch"):
        assert isinstance(last[key], float | int), key
    assert len(last["expert_load"]) == 3 and sum(last["expert_load"]) == pytest.approx(1.0, abs=1e-5)
    assert len(last["regime_matrix"]) == 3 and len(last["regime_matrix"][0]) == 2
    assert len(last["probe_gates"]) == 6 and all(sum(row) == pytest.approx(1, abs=1e-5) for row in last["probe_gates"])
    assert 0 <= last["routing_entropy"] <= math.log2(3) + 1e-6
    assert rec.result is result and rec.model is not None


def test_plain_function_callbacks_get_events():
    names = []
    train_model(tiny_model(), tiny_loader(), 1, 1e-3, callbacks=[lambda e: names.append(e.name)], log_every=2)
    assert names[0] == "train_start" and names[-1] == "train_end" and names.count("step_end") == 2


def test_the_same_seed_gives_the_same_records():
    """Everything but the timings repeats: the seed fixes the shuffling, so records match value for value."""

    def records(seed):
        rec = Recorder()
        loader = DataLoader(tiny_loader().dataset, batch_size=16, shuffle=True)
        probe = (loader.dataset.tensors[0][:4], torch.tensor([0, 1, 0, 1]))
        train_model(tiny_model(lam=0.2), loader, 3, 1e-2, callbacks=[rec], seed=seed, log_every=5,
                    val_data=(torch.ones(4, 5, 8), torch.zeros(4, 5, 8)), probe=probe, regime_names=["a", "b"])
        return [{k: v for k, v in r.items() if k not in ("time_s", "samples_per_s")} for r in rec.records]

    first = records(seed=3)
    assert [r["step"] for r in first] == [5, 10, 12] and first[-1]["val_loss"] is not None
    assert records(seed=3) == first
    assert records(seed=4) != first


def test_divergence_is_reported_with_the_step():
    model = tiny_model()
    with torch.no_grad():
        model.output_layer.weight.fill_(float("nan"))
    result = train_model(model, tiny_loader(), 1, 1e-3, log_every=2)
    assert result.status == "diverged" and "diverged at step 1" in result.reason


def test_stop_and_lambda_change_from_another_thread():
    control = TrainingControl()
    seen = []

    def on_step(record):
        seen.append(record)
        if record["step"] == 2:
            control.set_lambda(0.5)
        if record["step"] == 6:
            threading.Thread(target=control.stop).start()

    class CB:
        def on_step_end(self, record):
            on_step(record)

        def on_lambda_change(self, change):
            seen.append(change)

    result = train_model(tiny_model(), tiny_loader(n=160), 3, 1e-3, callbacks=[CB()], control=control, log_every=2)
    assert result.status == "stopped" and result.steps < 30
    change = next(r for r in seen if r.get("kind") == "lambda_change")
    assert change["value"] == 0.5 and change["step"] == 2
    assert seen[-1]["lambda_entropy"] == 0.5


def test_pause_blocks_until_resumed_and_step_runs_one_interval():
    control = TrainingControl()
    control.pause()
    steps = []
    t = threading.Thread(target=lambda: train_model(tiny_model(), tiny_loader(n=160), 1, 1e-3, control=control,
                                                    log_every=2, callbacks=[lambda e: steps.append(e.name)]))
    t.start()
    wait_for(lambda: "paused" in steps, 30, "the paused loop's first tick")  # it waits, before any step
    assert t.is_alive() and "step_end" not in steps
    control.step()
    wait_for(lambda: "step_end" in steps and control.paused, 30, "one interval, then a pause")
    assert steps.count("step_end") == 1  # paused again right after that interval's record
    control.resume()
    t.join(20)
    assert not t.is_alive() and steps[-1] == "train_end"


def test_unavailable_device_is_refused():
    missing = next((d for d in ("cuda", "mps") if d not in __import__("lfm").available_devices()), None)
    if missing is None:
        pytest.skip("every device is present here")
    with pytest.raises(ValueError, match="not available"):
        train_model(tiny_model(), tiny_loader(), 1, 1e-3, device=missing)


def regimes_run(lam: float, balance: float = 0.0, epochs: int = 4, lr: float = 1e-2, dim: int = 16):
    cfg = RunConfig().with_overrides({"lambda_entropy": lam, "balance_coef": balance, "num_epochs": epochs,
                                      "learning_rate": lr, "num_samples": 320, "token_dim": dim,
                                      "channel_dim": dim, "expert_dim": dim, "adapt_dim": 8})
    data = load_data(cfg.training, cfg.model.token_dim)
    torch.manual_seed(0)
    model = build_model(cfg, data.num_features)
    t = cfg.training
    return train_model(model, data.train_loader(t.batch_size, t.seed), t.num_epochs, t.learning_rate, seed=0,
                       log_every=10, val_data=(data.x_val, data.y_val), probe=data.probe(),
                       regime_names=data.regime_names), data


def test_positive_lambda_sharpens_and_negative_spreads():
    sharp, _ = regimes_run(0.5)
    spread, _ = regimes_run(-0.5)
    assert sharp.last_record["routing_entropy"] < 1.0  # from ~2 bits at the start
    assert spread.last_record["routing_entropy"] > 1.9  # stays near log2(4) = 2 bits


def test_learns_the_regimes_data():
    result, data = regimes_run(0.01, epochs=5, lr=3e-3, dim=32)
    assert result.last_record["val_loss"] < 0.7 * data.persistence_mse()  # beats repeat-the-last-value


def test_specialise_preset_sorts_regimes_onto_experts():
    """The README's headline: default settings + lambda 0.3 + balance 0.5 reach I(expert; regime) >= 1.2 bits."""
    from lfm.config import load_presets
    from lfm.training.experiment import prepare_run

    cfg = RunConfig().with_overrides(load_presets()["Specialise (lambda > 0 + balance)"].overrides)
    run = prepare_run(cfg, "unused")  # prepare only: no run folder is written
    t = cfg.training
    result = train_model(run.model, run.data.train_loader(t.batch_size, t.seed), t.num_epochs, t.learning_rate,
                         seed=t.seed, log_every=t.log_every, val_data=(run.data.x_val, run.data.y_val),
                         probe=run.data.probe(), regime_names=run.data.regime_names)
    last = result.last_record
    assert last["mi_regime"] >= 1.2
    assert last["load_entropy"] > 1.8 and last["routing_entropy"] < 0.6
    assert last["val_loss"] < 0.5 * run.data.persistence_mse()
