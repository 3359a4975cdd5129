"""lfm.lab.explore: the gate report, the interpolation path, and every way a checkpoint is refused.

Tiny models (token_dim 8, 4 experts) built here; each refusal is checked by the words of its message,
because the message is what a student reads on the Explore page.
"""

import io
import pickle
import subprocess
import sys

import pytest
import torch

from lfm.config import RunConfig
from lfm.data import load_data
from lfm.nn.entropy import compute_entropy
from lfm.lab.explore import (MAX_UPLOAD_BYTES, CheckpointError, LoadedRun, blend, gate_report, interpolate, load_run,
                         load_run_data, load_uploaded_checkpoint)
from lfm.nn.model import build_model
from lfm.store.checkpoint import save_checkpoint

TINY = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_samples": 64, "batch_size": 16}


@pytest.fixture(scope="module")
def cfg():
    return RunConfig().with_overrides(TINY)


@pytest.fixture(scope="module")
def data(cfg):
    return load_data(cfg.training, cfg.model.token_dim)


@pytest.fixture(scope="module")
def model(cfg, data):
    torch.manual_seed(0)
    return build_model(cfg, data.num_features).eval()


def checkpoint_bytes(obj) -> bytes:
    """What torch.save writes for obj, as an upload would hand it over."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def checkpoint(model, cfg, **changes) -> dict:
    """A checkpoint dict as lfm.store.checkpoint.save_checkpoint writes it, with some entries replaced."""
    ckpt = {"model_state": model.state_dict(), "config": cfg.to_dict(), "input_features": 1, "step": 7}
    return {**ckpt, **changes}


def refused(data: bytes, **kwargs) -> str:
    with pytest.raises(CheckpointError) as info:
        load_uploaded_checkpoint(data, "up.pt", **kwargs)
    return str(info.value)


# ---- looking inside -----------------------------------------------------------------------------

def test_gate_report_rows_sum_to_one_and_chosen_is_argmax(model, data):
    x = data.x_val[:9]  # (9, S, 1)
    report = gate_report(model, x)
    assert report.gate_probs.shape == (9, 4) and report.prediction.shape == x.shape
    torch.testing.assert_close(report.gate_probs.sum(dim=-1), torch.ones(9))
    assert torch.equal(report.chosen_expert, report.gate_probs.argmax(dim=-1))
    torch.testing.assert_close(report.entropy, compute_entropy(report.gate_probs))
    with torch.no_grad():
        torch.testing.assert_close(report.prediction, model(x))  # the same forward, nothing added


def test_gate_report_in_batches_equals_one_batch_and_keeps_the_mode(model, data):
    x = data.x_val[:10]
    whole, batched = gate_report(model, x), gate_report(model, x, batch_size=3)
    torch.testing.assert_close(whole.gate_probs, batched.gate_probs)
    torch.testing.assert_close(whole.prediction, batched.prediction)
    model.train()
    report = gate_report(model, x)
    assert model.training and not report.gate_probs.requires_grad  # mode restored, no graph kept
    model.eval()


def test_interpolation_ends_at_the_two_samples_gates(model, data):
    x_a, x_b = data.x_val[0], data.x_val[1]  # (S, F) each
    path = interpolate(model, x_a, x_b, steps=11)
    ends = gate_report(model, torch.stack([x_a, x_b])).gate_probs  # (2, E)
    assert path.t.shape == (11,) and path.gate_probs.shape == (11, 4) and path.entropy.shape == (11,)
    assert path.t[0] == 0 and path.t[-1] == 1
    torch.testing.assert_close(path.gate_probs[0], ends[0])
    torch.testing.assert_close(path.gate_probs[-1], ends[1])
    torch.testing.assert_close(path.gate_probs.sum(dim=-1), torch.ones(11))
    torch.testing.assert_close(path.entropy, compute_entropy(path.gate_probs))
    torch.testing.assert_close(blend(x_a, x_b, 0.25), 0.75 * x_a + 0.25 * x_b)


def test_interpolation_refuses_bad_inputs(model, data):
    with pytest.raises(ValueError, match="steps must be at least 2"):
        interpolate(model, data.x_val[0], data.x_val[1], steps=1)
    with pytest.raises(ValueError, match=r"must both be \(S, F\)"):
        interpolate(model, data.x_val[0], data.x_val[:2])


# ---- loading: what is accepted ------------------------------------------------------------------

def test_a_saved_checkpoint_loads_back_with_its_weights(model, cfg, data, tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.pt", model, cfg.to_dict(), data.num_features, step=12)
    loaded = load_uploaded_checkpoint(path.read_bytes(), "checkpoint.pt")
    assert isinstance(loaded, LoadedRun)
    assert loaded.config == cfg and loaded.step == 12 and loaded.input_features == 1 and loaded.num_experts == 4
    assert not loaded.model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    x = data.x_val[:4]
    torch.testing.assert_close(gate_report(loaded.model, x).gate_probs, gate_report(model, x).gate_probs)
    assert load_run_data(loaded).x_val.shape == data.x_val.shape  # the same data set, rebuilt


def test_load_run_reads_a_run_folder_and_says_when_there_is_no_checkpoint(model, cfg, tmp_path):
    (tmp_path / "run-a").mkdir()
    save_checkpoint(tmp_path / "run-a" / "checkpoint.pt", model, cfg.to_dict(), 1, step=3)
    assert load_run(tmp_path, "run-a").source == "run run-a"
    (tmp_path / "run-b").mkdir()
    with pytest.raises(CheckpointError, match="run run-b: no checkpoint file"):
        load_run(tmp_path, "run-b")
    with pytest.raises(CheckpointError, match="invalid run id"):
        load_run(tmp_path, "../etc")


# ---- loading: every refusal ----------------------------------------------------------------------

class RunsCode:
    """Unpickling this calls exec: what a malicious "checkpoint" would do."""

    def __reduce__(self):
        return exec, ("import pathlib; pathlib.Path('PWNED').write_text('code ran')",)


@pytest.mark.parametrize("content, words", [
    (b"", "is empty (0 bytes)"),
    (bytes(range(256)) * 8, "is not a PyTorch checkpoint"),
    (b"token_dim,channel_dim\n64,64\n", "is not a PyTorch checkpoint"),
    (pickle.dumps(RunsCode()), "is not a PyTorch checkpoint"),
])
def test_what_is_not_a_checkpoint_is_refused(content, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert words in refused(content)
    assert not (tmp_path / "PWNED").exists()


def test_code_inside_a_torch_file_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = refused(checkpoint_bytes({"model_state": {}, "config": RunsCode()}))
    assert "holds objects other than tensors" in message and "weights_only=True" in message
    assert not (tmp_path / "PWNED").exists()


def test_a_damaged_zip_is_refused(model, cfg):
    data = checkpoint_bytes(checkpoint(model, cfg))
    assert "damaged or not a PyTorch checkpoint" in refused(data[: len(data) // 2] + data[-22:])  # keeps the end record


def test_too_large_is_refused_with_its_size():
    message = refused(b"\0" * (MAX_UPLOAD_BYTES + 2 * 1024 * 1024))
    assert "is 52.0 MB, above the 50.0 MB limit" in message
    assert "is 2.0 kB, above the 1.0 kB limit" in refused(b"\0" * 2048, max_bytes=1024)


@pytest.mark.parametrize("obj, words", [
    (torch.zeros(3), "holds a tensor, not a checkpoint"),
    ([1, 2, 3], "holds a list, not a checkpoint"),
    ({"weights": torch.zeros(2)}, "lacks model_state, config, input_features, step (it has weights)"),
])
def test_a_torch_file_without_the_checkpoint_keys_is_refused(obj, words):
    assert words in refused(checkpoint_bytes(obj))


@pytest.mark.parametrize("changes, words", [
    ({"model_state": [1, 2]}, "model_state must map parameter names to tensors"),
    ({"input_features": 0}, "input_features must be a positive integer, got 0"),
    ({"step": -1}, "step must be a non-negative integer"),
])
def test_bad_checkpoint_entries_are_refused(model, cfg, changes, words):
    assert words in refused(checkpoint_bytes(checkpoint(model, cfg, **changes)))


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["hyperparameters"].update(num_experts=0), "num_experts = 0 is out of range"),
    (lambda c: c["training"].update(learning_rate="fast"), "learning_rate"),
    (lambda c: c["hyperparameters"].update(dropout=0.1), "unknown key 'dropout'"),
    (lambda c: c["hyperparameters"].update(expert_dim=16), "expert_dim = 16 must equal token_dim = 8"),
])
def test_bad_config_values_are_refused_with_the_config_message(model, cfg, edit, words):
    config = cfg.to_dict()
    edit(config)
    message = refused(checkpoint_bytes(checkpoint(model, cfg, config=config)))
    assert "its config is not valid" in message and words in message


def test_a_config_that_is_not_a_dict_is_refused(model, cfg):
    assert "a run config must be an object" in refused(checkpoint_bytes(checkpoint(model, cfg, config="64")))


def test_weights_of_other_dimensions_are_refused_with_their_names(cfg):
    wide = cfg.with_overrides({"token_dim": 16, "channel_dim": 16, "expert_dim": 16})
    message = refused(checkpoint_bytes(checkpoint(build_model(wide, 1), cfg)))  # 16-wide weights, 8-wide config
    assert "the weights do not fit its config (token_dim=8" in message
    assert "wrong shapes: input_proj.conv.weight (16, 1, 3) instead of (8, 1, 3)" in message
    assert "more" in message  # long lists are cut short


def test_weights_of_more_experts_are_refused_as_unexpected(cfg):
    more = cfg.with_overrides({"num_experts": 5})
    message = refused(checkpoint_bytes(checkpoint(build_model(more, 1), cfg)))
    assert "unexpected weights: moe.experts.4." in message
    assert "wrong shapes: moe.gating.weight (5, 4) instead of (4, 4)" in message


def test_missing_weights_are_named(model, cfg):
    state = {k: v for k, v in model.state_dict().items() if k != "output_layer.bias"}
    assert "missing weights: output_layer.bias" in refused(checkpoint_bytes(checkpoint(model, cfg, model_state=state)))


def test_non_finite_weights_are_refused(model, cfg):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["moe.gating.bias"][0] = float("nan")
    message = refused(checkpoint_bytes(checkpoint(model, cfg, model_state=state)))
    assert "NaN or infinite values (moe.gating.bias)" in message and "diverged" in message


def test_data_with_other_features_is_refused(model, cfg):
    loaded = LoadedRun(model, cfg, input_features=3, step=0, source="up.pt")
    with pytest.raises(CheckpointError, match="expects 3 feature"):
        load_run_data(loaded)


def test_lfm_explore_and_export_import_no_ui():
    code = ("import sys, lfm.lab.explore, lfm.store.export; "
            "print(sorted(m for m in ('streamlit', 'altair') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
