"""Training loop for the LFModel: Adam on MSE + lambda * routing entropy (+ optional load balance).

Like minGPT's trainer, this file knows nothing about the UI: whoever wants to watch passes callbacks
(lfm/training/callbacks.py) and, to steer the run from another thread, a TrainingControl
(lfm/training/control.py). Every `log_every` steps the callbacks get one metrics record of plain Python
numbers: MetricsAccumulator.record's means (lfm/training/metrics.py) plus step, epoch, total_steps, time_s,
samples_per_s, lambda_entropy, balance_coef, val_loss (or None) and, given a probe, probe_gates.

lambda_entropy is the weight the entropy term had on the record's last step: the base lambda (the
setting, replaced by any "λ while training" change) times the lambda schedule's factor at that step
(lfm/training/schedule.py; constant: 1, so the base itself).

Metrics are accumulated in tensors on the training device and copied to the host only at log steps, so
a GPU run does not synchronise on every step. For the same reason a NaN/Inf loss is noticed at the next
log step; the run then ends as "diverged at step N" with the first bad step, never silently.

Read it top to bottom like nanoGPT's train.py: train_model builds a Trainer, and Trainer.run is
    1. on_train_start(info)
    2. train_epochs: per batch obey_control (pause, stop, new base lambda), schedule_lambda (this step's
       weight), train_step, and every log_every steps a check for divergence and one record (log)
    3. outcome: finished, stopped or diverged; then log_final writes the last record
    4. on_train_end(result, model); an exception anywhere in 2-3 ends the run as failed instead.
"""

import threading
import time
from dataclasses import dataclass
from typing import Iterable

import torch

from lfm.nn.entropy import regularised_loss
from lfm.store.schema import RunState

from .callbacks import Callbacks
from .control import TrainingControl
from .devices import available_devices, resolve_device  # noqa: F401 (available_devices: older imports)
from .evaluate import scored, validation_loss
from .metrics import MetricsAccumulator
from .schedule import LambdaSchedule

# Held while seeding torch's process-wide generator and drawing from it (model initialisation), so runs
# starting in several threads at once (the dashboard's queue) each get exactly their own seed's weights.
SEED_LOCK = threading.Lock()


@dataclass
class TrainResult:
    status: RunState  # FINISHED | STOPPED | DIVERGED | FAILED; a str, equal to "finished" ...
    reason: str  # one line for people: why the run ended
    steps: int  # optimiser steps taken
    last_record: dict | None  # the last metrics record sent to the callbacks
    elapsed_s: float  # wall time spent training (pauses excluded)


def train_model(
    model,
    dataloader,
    num_epochs: int,
    learning_rate: float,
    *,
    callbacks: Iterable = (),
    device: str = "auto",
    seed: int | None = None,
    control: TrainingControl | None = None,
    log_every: int = 10,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    probe: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    regime_names: list[str] | None = None,
    lambda_schedule: LambdaSchedule | None = None,
) -> TrainResult:
    """Train with Adam on MSE + lambda * H_route (+ balance_coef * (log2 E - H_load)).

    dataloader yields (x, y) or (x, y, regime_labels). callbacks: objects with on_* methods or functions
    of a TrainEvent (lfm/training/callbacks.py). val_data: held-out (x, y) for val_loss; probe: fixed
    inputs (and their labels) whose gates every record carries. lambda_schedule: how the model's lambda
    (the base) is scaled step by step; None is constant. Returns how the run ended; never raises
    for a diverged or failing run (the reason is in the result and in the callbacks' train_end).
    """
    callbacks = Callbacks(callbacks)
    if seed is not None:
        with SEED_LOCK:
            torch.manual_seed(seed)
    trainer = Trainer(
        model, dataloader, num_epochs, learning_rate, device=resolve_device(device), callbacks=callbacks,
        control=control or TrainingControl(), log_every=log_every, val_data=val_data, probe=probe,
        regime_names=regime_names, lambda_schedule=lambda_schedule or LambdaSchedule(),
    )  # fmt: skip
    return trainer.run()


class Trainer:
    """One run of the loop: its settings, the progress it makes step by step, and a method per stage."""

    def __init__(self, model, dataloader, num_epochs: int, learning_rate: float, *, device: torch.device,
                 callbacks: Callbacks, control: TrainingControl, log_every: int,
                 val_data: tuple[torch.Tensor, torch.Tensor] | None,
                 probe: tuple[torch.Tensor, torch.Tensor | None] | None, regime_names: list[str] | None,
                 lambda_schedule: LambdaSchedule):
        self.model = model.to(device).train()
        self.dataloader = dataloader
        self.num_epochs = num_epochs
        self.device = device
        self.callbacks = callbacks
        self.control = control
        self.log_every = log_every
        # The fused Adam kernel (one pass over all parameters) takes ~25% off a default CPU step, measured.
        fused = device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, fused=fused or None)
        self.val_data = tuple(t.to(device) for t in val_data) if val_data is not None else None
        self.probe_x = probe[0].to(device) if probe is not None else None  # (P, S, F) fixed probe windows
        self.probe_labels = probe[1].tolist() if probe is not None and probe[1] is not None else None
        self.regime_names = regime_names
        self.total_steps = num_epochs * len(dataloader)
        self.schedule = lambda_schedule
        self.base_lambda = self.model.moe.lambda_entropy  # the schedule scales this; λ while training replaces it
        num_regimes = len(regime_names) if regime_names else 0  # K; 0: regime labels are ignored
        self.metrics = MetricsAccumulator(model.moe.num_experts, num_regimes, device)
        # the progress, advanced by the methods below
        self.step = 0  # optimiser steps taken
        self.epoch = 0  # the epoch being trained
        self.epochs_since_val = 0  # epochs completed since the last validation loss
        self.first_bad_step = torch.zeros((), dtype=torch.long, device=device)  # 0: every loss was finite
        self.last_record: dict | None = None  # the last record sent to the callbacks
        self.elapsed = 0.0  # training seconds up to the last record (pauses and callbacks excluded)
        self.interval_start = 0.0  # perf_counter() when the current log interval began

    def run(self) -> TrainResult:
        """Train to the end and say how it ended; callbacks hear train_start first and train_end last."""
        self.callbacks.on_train_start(self.info())
        self.interval_start = time.perf_counter()
        try:
            self.train_epochs()
            status, reason = self.outcome()
            if status != RunState.DIVERGED:  # a diverged run's last record stays the last finite one
                self.log_final()
        except Exception as exc:  # a failing run must end visibly, with its reason, not kill the thread silently
            status, reason = RunState.FAILED, f"failed at step {self.step}: {type(exc).__name__}: {exc}"
        result = TrainResult(status, reason, self.step, self.last_record, self.elapsed)
        self.callbacks.on_train_end(result, self.model)
        return result

    def info(self) -> dict:
        """What on_train_start tells the callbacks about the run."""
        return {
            "total_steps": self.total_steps, "num_experts": self.model.moe.num_experts,
            "regime_names": self.regime_names, "probe_labels": self.probe_labels, "device": str(self.device),
            "num_parameters": sum(p.numel() for p in self.model.parameters()),
        }  # fmt: skip

    def train_epochs(self) -> None:
        """All epochs, one record every log_every steps; returns early once stopped or diverged."""
        for epoch in range(self.num_epochs):
            self.epoch = epoch
            for batch in self.dataloader:
                if not self.obey_control():
                    return
                self.schedule_lambda()
                self.train_step(batch)
                if self.step % self.log_every == 0:
                    if self.diverged():
                        return
                    self.log(final=False)
                    self.control.after_log()
            self.epochs_since_val += 1

    def obey_control(self) -> bool:
        """Before a step: wait while paused; False once stopped; otherwise take a new base lambda, if any."""
        self.interval_start += self.control.wait_while_paused(self.callbacks.on_paused)  # pauses don't count
        if self.control.stopped:
            return False
        new_lambda = self.control.take_lambda()
        if new_lambda is not None:
            self.base_lambda = new_lambda
            self.callbacks.on_lambda_change({"step": self.step, "kind": "lambda_change", "value": new_lambda})
        return True

    def schedule_lambda(self) -> None:
        """Set the entropy term's weight for the next step: the base lambda times the schedule's factor."""
        self.model.moe.lambda_entropy = self.base_lambda * self.schedule.factor(self.step, self.total_steps)

    def train_step(self, batch) -> None:
        """One optimiser step on (x, y[, labels]); its metrics stay on the device, nothing is synced."""
        dev = self.device
        x, y = batch[0].to(dev, non_blocking=True), batch[1].to(dev, non_blocking=True)  # (B, S, F) each
        labels = batch[2].to(dev, non_blocking=True) if len(batch) > 2 and self.metrics.num_regimes else None  # (B,)
        pred, target = scored(self.model, self.model(x), y)  # every position, unless the summary read some targets
        parts = regularised_loss(self.model, torch.nn.functional.mse_loss(pred, target))
        self.optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        self.optimizer.step()
        self.step += 1
        self.metrics.add(parts, self.model.moe.gate_probs, labels)
        bad = ~torch.isfinite(parts.total.detach())
        self.first_bad_step = torch.where(bad & (self.first_bad_step == 0), self.step, self.first_bad_step)

    def diverged(self) -> bool:
        """Whether any loss so far was NaN or infinite: the one host sync per log step."""
        return bool(int(self.first_bad_step))

    def outcome(self) -> tuple[RunState, str]:
        """How the epochs ended: diverged (with the first bad step), stopped, or finished."""
        bad_at = int(self.first_bad_step)
        if bad_at:
            return RunState.DIVERGED, f"diverged at step {bad_at}: the loss became NaN or infinite"
        if self.control.stopped:
            return RunState.STOPPED, f"stopped {self.control.stop_reason} at step {self.step}"
        return RunState.FINISHED, f"finished {self.num_epochs} epoch{'s' if self.num_epochs != 1 else ''}"

    def log(self, final: bool) -> None:
        """Send the record of the steps since the last one; `final` asks for its validation loss."""
        record = self.metrics.record()
        interval = time.perf_counter() - self.interval_start
        self.elapsed += interval
        record.update(
            step=self.step, epoch=self.epoch, total_steps=self.total_steps, time_s=self.elapsed,
            samples_per_s=self.metrics.samples / interval if interval > 0 else 0.0,
            lambda_entropy=self.model.moe.lambda_entropy, balance_coef=self.model.moe.balance_coef,
            val_loss=None,
        )  # fmt: skip
        # validation once per epoch (at the first record after an epoch ends) and at the end
        if self.val_data is not None and (final or self.step == self.total_steps or self.epochs_since_val > 0):
            record["val_loss"] = validation_loss(self.model, *self.val_data)
            self.epochs_since_val = 0
        if self.probe_x is not None:
            record["probe_gates"] = self.probe_gates()
        self.metrics.reset()
        self.send(record)

    def log_final(self) -> None:
        """The run's last record, the one place it is written: the steps since the last record, with the
        validation loss; or, when the run stopped right after a log step, that record again with one."""
        if self.metrics.steps:
            self.log(final=True)
        elif self.last_record is not None and self.last_record["val_loss"] is None and self.val_data is not None:
            self.send({**self.last_record, "val_loss": validation_loss(self.model, *self.val_data)})

    def probe_gates(self) -> list[list[float]]:
        """(P, E) gate probabilities of the probe windows under the current weights."""
        self.model.eval()
        with torch.no_grad():
            self.model(self.probe_x)
        self.model.train()
        return self.model.moe.gate_probs.cpu().tolist()

    def send(self, record: dict) -> None:
        """Give a record to the callbacks; the time they take is not training time."""
        self.last_record = record
        self.callbacks.on_step_end(record)
        self.interval_start = time.perf_counter()
