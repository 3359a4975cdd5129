"""One complete run, from a RunConfig to a finished folder in the run store.

The CLI and the dashboard's background jobs both start runs through here, so a run means the same thing
wherever it was started:
  1. load the data set (bad data is refused here, before a run folder exists);
  2. seed torch and build the model for the data's feature count;
  3. train with the run store's writer as a callback, plus whatever the caller watches with.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from .config import RunConfig
from .data import DataBundle, load_data
from .model import LFModel, build_model
from .runs import RunWriter
from .train import TrainingControl, TrainResult, resolve_device, train_model


@dataclass
class PreparedRun:
    config: RunConfig
    data: DataBundle
    model: LFModel
    writer: RunWriter  # the run's folder exists from here on, with status "running"

    @property
    def run_id(self) -> str:
        return self.writer.run_id


def prepare_run(cfg: RunConfig, runs_dir: str | Path, *, name: str | None = None) -> PreparedRun:
    """Load data and build the model; raises DataError / ConfigError before creating any run folder."""
    resolve_device(cfg.training.device)  # an absent device is a bad setting, refused up front
    data = load_data(cfg.training, cfg.model.token_dim)
    torch.manual_seed(cfg.training.seed)  # the same seed gives the same initial weights and batches
    model = build_model(cfg, data.num_features)
    writer = RunWriter(runs_dir, cfg.to_dict(), name=name, input_features=data.num_features)
    return PreparedRun(cfg, data, model, writer)


def execute(
    run: PreparedRun, *, control: TrainingControl | None = None, callbacks: Iterable = ()
) -> TrainResult:
    """Train a prepared run to the end (finished, stopped, diverged or failed), recording everything."""
    t = run.config.training
    probe = run.data.probe()
    return train_model(
        run.model,
        run.data.train_loader(t.batch_size, t.seed),
        t.num_epochs,
        t.learning_rate,
        callbacks=[run.writer, *callbacks],
        device=t.device,
        seed=t.seed,
        control=control,
        log_every=t.log_every,
        val_data=(run.data.x_val, run.data.y_val),
        probe=probe,
        regime_names=run.data.regime_names,
    )
