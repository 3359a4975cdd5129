"""One complete run, from a RunConfig to a finished folder in the run store.

The CLI and the dashboard's background jobs both start runs through here, so a run means the same thing
wherever it was started:
  1. prepare: check the device, load the data set, seed torch and build the model. Bad data or settings
     are refused here, before any run folder exists (a queued dashboard job is prepared when queued);
  2. execute: open the run's folder in the run store, record its provenance (lfm.store.provenance, with
     the facts only torch knows: device and thread count), and train with its writer as a callback, plus
     whatever the caller watches with.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch

from lfm.config import RunConfig
from lfm.data import DataBundle, load_data
from lfm.nn.model import LFModel, build_model
from lfm.store import RunWriter, provenance

from .control import TrainingControl
from .devices import resolve_device
from .loop import SEED_LOCK, TrainResult, train_model
from .schedule import LambdaSchedule
from .steering import ControlListener


@dataclass
class PreparedRun:
    config: RunConfig
    data: DataBundle
    model: LFModel
    runs_dir: Path
    name: str | None = None  # the user's name for the run, kept verbatim in its config.json
    meta: dict = field(default_factory=dict)  # grouping labels kept in config.json, e.g. {"sweep": id}
    writer: RunWriter | None = field(default=None, repr=False)  # set once execute() opens the folder

    @property
    def run_id(self) -> str | None:
        return self.writer.run_id if self.writer else None


def prepare_run(
    cfg: RunConfig, runs_dir: str | Path, *, name: str | None = None, meta: dict | None = None
) -> PreparedRun:
    """Load data and build the model; raises DataError / ValueError for bad input, writes nothing."""
    resolve_device(cfg.training.device)  # an absent device is a bad setting, refused up front
    data = load_data(cfg.training, cfg.model.token_dim)
    with SEED_LOCK:  # torch's generator is process-wide: a run starting in another thread must not reseed
        torch.manual_seed(cfg.training.seed)  # it between these two lines (same seed, same initial weights)
        model = build_model(cfg, data.num_features)
    return PreparedRun(cfg, data, model, Path(runs_dir), name, dict(meta or {}))


def open_run(run: PreparedRun) -> RunWriter:
    """Create the run's folder (status "running"); the run id is known from here on."""
    if run.writer is None:
        # fsync=False: every record still survives a kill -9 (it is in the OS's page cache once written);
        # syncing to the disk itself would only guard against a power cut, at ~6 ms per log step, measured.
        run.writer = RunWriter(
            run.runs_dir, run.config.to_dict(), name=run.name, input_features=run.data.num_features,
            fsync=False, meta=run.meta,
        )
    return run.writer


def torch_facts(device: str) -> dict:
    """What provenance needs from torch: the device a run trains on (with the GPU's name) and torch's
    intra-op thread count, which is process-wide, so it is read just before training starts."""
    dev = resolve_device(device)
    name = str(dev)
    if dev.type == "cuda":
        try:
            name = f"{name} ({torch.cuda.get_device_name(dev)})"
        except RuntimeError:  # a driver that cannot name its GPU: the run matters more than the label
            pass
    return {"device": name, "torch_threads": torch.get_num_threads()}


def execute(run: PreparedRun, *, control: TrainingControl | None = None, callbacks: Iterable = (),
            backend: str = "python") -> TrainResult:
    """Train a prepared run to its end (finished, stopped, diverged or failed), recording everything.

    backend says what drives the run, for its provenance: "cli", "thread" (a dashboard job), "process" or
    "ray" (a worker, lfm/lab/worker.py), or "python"."""
    writer = open_run(run)
    control = control or TrainingControl()
    steering = ControlListener(writer.path, control)  # commands sent through the run folder, from anywhere
    t, m = run.config.training, run.config.model
    try:
        writer.record_provenance(provenance.collect(backend=backend, **torch_facts(t.device)))
        return train_model(
            run.model,
            run.data.train_loader(t.batch_size, t.seed),
            t.num_epochs,
            t.learning_rate,
            callbacks=[writer, steering, *callbacks],
            device=t.device,
            seed=t.seed,
            control=control,
            log_every=t.log_every,
            val_data=(run.data.x_val, run.data.y_val),
            probe=run.data.probe(),
            regime_names=run.data.regime_names,
            lambda_schedule=LambdaSchedule(m.lambda_schedule, m.lambda_warmup),
        )
    finally:
        writer.close()
