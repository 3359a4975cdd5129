"""Checkpoints: the one place that saves and loads a model's weights (the only store module using torch).

checkpoint.pt = {"model_state", "config", "input_features", "step"}: plain tensors and plain data, so
`torch.load(path, weights_only=True)` reads it and a checkpoint can never run code when loaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from .files import atomic_path, is_plain_file, open_file
from .schema import CHECKPOINT_KEYS


def save_checkpoint(path: str | Path, model, config: dict, input_features: int, step: int) -> Path:
    """Write checkpoint.pt atomically; tensors are moved to CPU so any machine can load the file."""
    path = Path(path)
    ckpt = {"model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "config": config, "input_features": int(input_features), "step": int(step)}
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file (or a run folder's checkpoint.pt); ValueError naming the file otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if path.is_symlink():
        raise ValueError(f"{path} is a link: checkpoints are read only from plain files, never through links")
    if not is_plain_file(path):
        raise ValueError(f"no checkpoint file at {path}")
    try:  # weights_only: a checkpoint is data, never code to run
        with open_file(path, "rb") as f:
            ckpt = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file (UnpicklingError, RuntimeError, ...)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is not a readable checkpoint: {first_line}") from exc
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not an LFM checkpoint: missing {', '.join(missing)}")
    return ckpt


class LoadedModel(NamedTuple):
    model: Any   # LFModel with the checkpoint's weights, in eval mode
    config: Any  # RunConfig it was trained with


def load_model(run_dir_or_checkpoint: str | Path) -> LoadedModel:
    """Rebuild the model of a run folder or checkpoint file -> (model, cfg)."""
    from lfm.config import RunConfig
    from lfm.nn.model import build_model

    ckpt = load_checkpoint(run_dir_or_checkpoint)
    cfg = RunConfig.from_dict(ckpt["config"])
    model = build_model(cfg, ckpt["input_features"])
    model.load_state_dict(ckpt["model_state"])
    return LoadedModel(model.eval(), cfg)
