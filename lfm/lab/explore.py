"""Explore a trained model: load a checkpoint safely, then look at what its gate does with given inputs.

Two ways in, one set of checks (what the Explore page and its tests rely on):
  * `load_run(runs_dir, run_id)`: the checkpoint.pt of a run in the run store (lfm.store);
  * `load_uploaded_checkpoint(data, name)`: the bytes of an uploaded file, which may be anything.
Either way the file is read with `torch.load(weights_only=True)`, so it can only hold tensors and plain
data, never code to run, and then checked step by step: it is a dict with the checkpoint's keys
(lfm.store.schema.CHECKPOINT_KEYS); its config passes RunConfig.from_dict; and its weights fit, name by name and
shape by shape, a model of that config. Every refusal is a CheckpointError whose message says
what is wrong in words a student can act on.

Bounded work on any upload: the archive may unpack to at most the upload limit (a zip can claim
gigabytes in a few kB), and the model its claimed dimensions describe (input_features, the config's
widths) may hold at most twice as many parameters as the file holds weights, checked before the model is
built: a 24 kB file claiming 40,000,000 input features is refused, not allocated.

Then three looks inside, all under torch.no_grad in eval mode:
  * `gate_report(model, x)`: each sample's gate distribution, chosen expert and next-step prediction;
  * `interpolate(model, x_a, x_b)`: the gate along the straight line from input A to input B.
    The gate sees only featurizer(x.mean(dim=1)) (lfm.nn.model), and the mean of (1-t)·x_a + t·x_b is
    (1-t)·mean(x_a) + t·mean(x_b): so the path is a straight line in what the gate sees, too;
  * `load_run_data(loaded)`: the run's own data set, rebuilt from its config.

Index legend: N samples, S sequence length, F features per step, E experts, T points on a path.
"""

from __future__ import annotations

import io
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from lfm.config import ConfigError, RunConfig, estimate_parameters
from lfm.data import DataBundle, load_data
from lfm.nn.entropy import compute_entropy
from lfm.nn.model import LFModel, build_model
from lfm.store import run_path
from lfm.store.checkpoint import load_checkpoint
from lfm.store.schema import CHECKPOINT_KEYS

MAX_UPLOAD_MB = 50  # an upload above this is refused before torch reads it (a default run's is ~3 MB)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MAX_LISTED = 6  # key names quoted in a message before "and N more"
MAX_ARCHIVE_ENTRIES = 10_000  # a default run's checkpoint.pt holds about 40
_FORWARD_LOCK = threading.Lock()  # see gate_report


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says why (size, format, keys, config or weights)."""


@dataclass(frozen=True)
class LoadedRun:
    """A model rebuilt from a checkpoint, with what it was trained on."""

    model: LFModel        # the checkpoint's weights, on the CPU, in eval mode
    config: RunConfig     # the run's settings, validated
    input_features: int   # F of the data it was trained on (may differ from token_dim, lfm.nn.model)
    step: int             # optimiser steps trained when the checkpoint was written
    source: str           # where it came from: a run id or an uploaded file's name

    @property
    def num_experts(self) -> int:
        return self.config.model.num_experts


# ---- loading ----------------------------------------------------------------------------------------

def load_run(runs_dir: str | Path, run_id: str) -> LoadedRun:
    """The model of a run in the store, from its checkpoint.pt (written when the run ended)."""
    try:
        path = run_path(runs_dir, run_id) / "checkpoint.pt"
        ckpt = load_checkpoint(path)  # weights_only=True; ValueError naming the file otherwise
    except ValueError as exc:
        raise CheckpointError(f"run {run_id}: {exc}") from None
    return _validated(ckpt, f"run {run_id}")


def load_uploaded_checkpoint(data: bytes, name: str = "the upload",
                             max_bytes: int = MAX_UPLOAD_BYTES) -> LoadedRun:
    """The model in an uploaded checkpoint file, after every check; CheckpointError otherwise."""
    size = len(data)
    if size == 0:
        raise CheckpointError(f"{name} is empty (0 bytes): expected a checkpoint.pt saved by a run")
    if size > max_bytes:
        raise CheckpointError(f"{name} is {_size(size)}, above the {_size(max_bytes)} limit for uploaded "
                              f"checkpoints (a default run's is about 3 MB); for a bigger model, copy its run "
                              f"folder into the run store and pick it from there")
    # torch.save writes a zip archive; anything else (a bare pickle, text, random bytes) is not one of ours
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError(f"{name} is not a PyTorch checkpoint: files written by torch.save are zip "
                              f"archives, and this one is not (expected a run's checkpoint.pt)")
    _check_unpacked_size(data, name, max_bytes)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; the outcome is what counts
            warnings.simplefilter("ignore")
            # weights_only: the unpickler builds only tensors and plain data, so no code in the file can run
            ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file (UnpicklingError, RuntimeError, ...)
        if "weights only load failed" in str(exc).lower():
            raise CheckpointError(f"{name} holds objects other than tensors, numbers, text, lists and "
                                  f"dicts (for example code): refused, because only weights are loaded "
                                  f"(torch.load with weights_only=True)") from None
        raise CheckpointError(f"{name} is damaged or not a PyTorch checkpoint: {_first_line(exc)}") from None
    return _validated(ckpt, name)


def _check_unpacked_size(data: bytes, name: str, max_bytes: int) -> None:
    """Refuse an archive whose entries would unpack to more than max_bytes (torch.save stores them
    uncompressed, so a real checkpoint unpacks to about its own size), reading only its directory."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{name} is damaged or not a PyTorch checkpoint: {_first_line(exc)}") from None
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > max_bytes or len(entries) > MAX_ARCHIVE_ENTRIES:
        raise CheckpointError(f"{name} unpacks to {len(entries):,} entries of {_size(unpacked)}, above the "
                              f"limits of {MAX_ARCHIVE_ENTRIES:,} entries and {_size(max_bytes)} for uploaded "
                              f"checkpoints")


def _projection_parameters(features: int, token_dim: int) -> int:
    """Parameters of lfm.nn.model's input projection and output head, which exist when F != D: a causal
    convolution of width 3 from F to D channels and a Linear(D, F). estimate_parameters leaves them out,
    and they are the part of the model no config limit bounds (F comes with the data)."""
    if features == token_dim:
        return 0
    return (token_dim * features * 3 + token_dim) + (token_dim * features + features)


def _validated(ckpt: Any, source: str) -> LoadedRun:
    """Check a loaded object step by step and rebuild its model; CheckpointError at the first problem."""
    # 1. the container: a dict with the run store's keys (lfm.store.checkpoint.save_checkpoint)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{source} holds {_kind(ckpt)}, not a checkpoint: expected a dict with the "
                              f"keys {', '.join(CHECKPOINT_KEYS)}")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{source} is not an LFM checkpoint: it lacks {', '.join(missing)} "
                              f"(it has {_listed(sorted(map(str, ckpt))) or 'no keys'})")
    state, features, step = ckpt["model_state"], ckpt["input_features"], ckpt["step"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: model_state must map parameter names to tensors, got {_kind(state)}")
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise CheckpointError(f"{source}: input_features must be a positive integer, got {features!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{source}: step must be a non-negative integer, got {step!r}")

    # 2. the config, with the same checks as the two JSON files (ConfigError names the setting)
    try:
        cfg = RunConfig.from_dict(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{source}: its config is not valid: {exc}") from None

    # 3. the size the config and input_features claim, against the weights the file really holds: a model
    #    is built only when the weights could fill it (say input_features = 10^12 is refused here)
    m = cfg.model
    claimed = estimate_parameters(cfg) + _projection_parameters(features, m.token_dim)
    held = sum(v.numel() for v in state.values())
    if claimed > 2 * held:
        raise CheckpointError(
            f"{source}: its config (token_dim={m.token_dim}, adapt_dim={m.adapt_dim}, num_experts="
            f"{m.num_experts}, sequence_length={cfg.training.sequence_length}, input_features={features}) "
            f"describes a model of about {claimed:,} parameters, but the file holds only {held:,} weights: "
            f"refused before building it")

    # 4. the weights against a model of that config: every name present, every shape the same
    model = build_model(cfg, features)
    expected = model.state_dict()
    absent = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} instead of {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [f"{label}: {_listed(names)}" for label, names in
                (("missing weights", absent), ("unexpected weights", unexpected), ("wrong shapes", wrong_shape))
                if names]
    if problems:
        raise CheckpointError(
            f"{source}: the weights do not fit its config (token_dim={m.token_dim}, adapt_dim={m.adapt_dim}, "
            f"num_experts={m.num_experts}, sequence_length={cfg.training.sequence_length}, "
            f"input_features={features}): {'; '.join(problems)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source}: weights with NaN or infinite values ({_listed(bad)}): "
                              f"the run probably diverged, so its gate means nothing")
    model.load_state_dict(state)
    return LoadedRun(model.eval(), cfg, features, step, source)


def load_run_data(loaded: LoadedRun) -> DataBundle:
    """The data set the run was trained on, rebuilt from its config (same seed: the same windows).

    Raises lfm.data.DataError when it cannot be rebuilt here (e.g. a CSV run whose file is elsewhere),
    and CheckpointError when the rebuilt data has another number of features than the model expects."""
    cfg = loaded.config
    data = load_data(cfg.training, cfg.model.token_dim)
    if data.num_features != loaded.input_features:
        raise CheckpointError(f"{loaded.source}: the model expects {loaded.input_features} feature(s) per "
                              f"step, but the {data.name} data rebuilt here has {data.num_features}")
    return data


# ---- looking inside -----------------------------------------------------------------------------

class GateReport(NamedTuple):
    gate_probs: torch.Tensor     # (N, E) each sample's gate distribution; rows sum to 1
    chosen_expert: torch.Tensor  # (N,) int64, the expert with the largest gate probability
    entropy: torch.Tensor        # (N,) the gate's entropy in bits: 0 = one expert, log2(E) = all equal
    prediction: torch.Tensor     # (N, S, F) the model's next-step prediction for each input step


class Interpolation(NamedTuple):
    t: torch.Tensor           # (T,) mixing weights from 0 (sample A) to 1 (sample B)
    gate_probs: torch.Tensor  # (T, E) the gate of (1-t)·x_a + t·x_b
    entropy: torch.Tensor     # (T,) its entropy in bits


def gate_report(model: LFModel, x: torch.Tensor, batch_size: int = 64) -> GateReport:
    """Run x (N, S, F) through the model and read its gate. Batched, because every sample makes the
    adaptive layers generate weight matrices of their own (memory grows with the batch)."""
    if x.dim() != 3:
        raise ValueError(f"x must be (N, S, F), got shape {tuple(x.shape)}")
    gates, predictions = [], []
    # The gate is read from the module after the forward (model.moe.gate_probs), so two threads sharing
    # one model (two browser tabs on a cached model) must not interleave a forward and that read.
    with _FORWARD_LOCK:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for chunk in x.split(batch_size):
                    predictions.append(model(chunk.float()))     # (n, S, F)
                    gates.append(model.moe.gate_probs.clone())    # (n, E), kept by the last forward
        finally:
            model.train(was_training)
    gate_probs = torch.cat(gates)  # (N, E)
    return GateReport(gate_probs, gate_probs.argmax(dim=-1), compute_entropy(gate_probs),
                      torch.cat(predictions))


def blend(x_a: torch.Tensor, x_b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """(1-t)·x_a + t·x_b: the input a fraction t of the way from A to B (same shape as x_a)."""
    return (1 - t) * x_a + t * x_b


def interpolate(model: LFModel, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 21) -> Interpolation:
    """The gate along the straight line between two inputs x_a, x_b (S, F), at `steps` evenly spaced t."""
    if x_a.shape != x_b.shape or x_a.dim() != 2:
        raise ValueError(f"x_a and x_b must both be (S, F), got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends), got {steps}")
    t = torch.linspace(0.0, 1.0, steps)  # (T,)
    path = blend(x_a[None], x_b[None], t[:, None, None])  # (1, S, F) and (T, 1, 1) -> (T, S, F)
    report = gate_report(model, path)
    return Interpolation(t, report.gate_probs, report.entropy)


# ---- message helpers ----------------------------------------------------------------------------

def _size(size: int) -> str:
    """Bytes for people: 52.0 MB, 12.5 kB or 300 bytes."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.1f} kB" if size >= 1024 else f"{size} bytes"


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _kind(obj: Any) -> str:
    return "a tensor" if isinstance(obj, torch.Tensor) else f"a {type(obj).__name__}"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
