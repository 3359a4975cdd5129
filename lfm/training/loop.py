"""Training loop for the LFModel: Adam on MSE + lambda * routing entropy (+ optional load balance).

Like minGPT's trainer, this file knows nothing about the UI: whoever wants to watch passes callbacks and,
to steer the run from another thread, a TrainingControl. Every `log_every` steps the callbacks get one
metrics record of plain Python numbers (the record format is documented in `MetricsAccumulator.record`).

Metrics are accumulated in tensors on the training device and copied to the host only at log steps, so
a GPU run does not synchronise on every step. For the same reason a NaN/Inf loss is noticed at the next
log step; the run then ends as "diverged at step N" with the first bad step, never silently.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

from lfm.nn.entropy import compute_entropy, mutual_information, regime_matrix, regularised_loss, varentropy


# Held while seeding torch's process-wide generator and drawing from it (model initialisation), so runs
# starting in several threads at once (the dashboard's queue) each get exactly their own seed's weights.
SEED_LOCK = threading.Lock()


@dataclass
class TrainResult:
    status: str  # "finished" | "stopped" | "diverged" | "failed"
    reason: str  # one line for people: why the run ended
    steps: int  # optimiser steps taken
    last_record: dict | None  # the last metrics record sent to the callbacks
    elapsed_s: float  # wall time spent training (pauses excluded)


@dataclass
class TrainEvent:
    """What a plain-function callback receives: `fn(event)`, with event.name telling which moment."""

    name: str  # "train_start" | "step_end" | "lambda_change" | "paused" | "train_end"
    info: dict | None = None
    record: dict | None = None
    result: TrainResult | None = None
    model: Any = None


class TrainingControl:
    """Thread-safe steering of a run from outside the training thread: stop, pause, step, change lambda."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._lock = threading.Lock()
        self._pause_after_log = False
        self._pending_lambda: float | None = None
        self.stop_reason = ""

    def stop(self, reason: str = "by the user") -> None:
        """Stop at the next step; `reason` completes "stopped ... at step N" in the run's status."""
        self.stop_reason = reason
        with self._lock:
            self._pause_after_log = False  # a pending Step must not pause the loop again after this
        self._stop.set()
        self._running.set()  # wake a paused loop so it can see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def step(self) -> None:
        """Run one log interval, then pause again (TF Playground's step button)."""
        with self._lock:
            self._pause_after_log = True
        self._running.set()

    def set_lambda(self, value: float) -> None:
        """Change lambda_entropy from the next step on, without restarting the run."""
        with self._lock:
            self._pending_lambda = float(value)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def _take_lambda(self) -> float | None:
        with self._lock:
            value, self._pending_lambda = self._pending_lambda, None
        return value

    def _after_log(self) -> None:
        with self._lock:
            if self._pause_after_log:
                self._pause_after_log = False
                self._running.clear()

    def _wait_while_paused(self, tick: Callable[[], None]) -> float:
        """Block while paused, calling tick() about once a second; returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        while not self._running.wait(timeout=1.0):
            tick()  # lets the run store show the run as alive, not interrupted
        return time.perf_counter() - start


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device that is absent is an error, not a fallback."""
    available = available_devices()
    if device == "auto":
        for preferred in ("cuda", "mps"):
            if preferred in available:
                return torch.device(preferred)
        return torch.device("cpu")
    if device not in available:
        raise ValueError(f"device = {device!r} is not available here: allowed {', '.join(['auto', *available])}")
    return torch.device(device)


def available_devices() -> list[str]:
    """The devices present on this machine, cpu first."""
    devices = ["cpu"]
    if torch.backends.mps.is_available():
        devices.append("mps")
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


class _Callbacks:
    """Dispatches to callback objects (any of the METHODS) and to plain functions fn(TrainEvent)."""

    METHODS = ("on_train_start", "on_step_end", "on_lambda_change", "on_paused", "on_train_end")

    def __init__(self, callbacks: Iterable):
        self.items = list(callbacks or ())

    def emit(self, event: TrainEvent, method: str, *args) -> None:
        for cb in self.items:
            if any(hasattr(cb, name) for name in self.METHODS):
                handler = getattr(cb, method, None)
                if handler is not None:
                    handler(*args)
            else:
                cb(event)


@dataclass
class MetricsAccumulator:
    """Running sums on the training device between two log steps; `record` fetches them once."""

    num_experts: int
    num_regimes: int
    device: torch.device
    sums: dict = field(default_factory=dict)

    def __post_init__(self):
        self.reset()

    def reset(self) -> None:
        z = lambda *shape: torch.zeros(shape, device=self.device)  # noqa: E731
        self.sums = {
            "loss": z(), "total_loss": z(), "routing_entropy": z(), "varentropy": z(),
            "gate": z(self.num_experts), "regimes": z(self.num_experts, max(self.num_regimes, 1)),
        }  # fmt: skip
        self.steps = 0
        self.samples = 0

    def add(self, parts, gate_probs: torch.Tensor, labels: torch.Tensor | None) -> None:
        s = self.sums
        s["loss"] += parts.primary.detach()
        s["total_loss"] += parts.total.detach()
        g = gate_probs.detach()  # (B, E)
        s["routing_entropy"] += compute_entropy(g).mean()
        s["varentropy"] += varentropy(g).mean()
        s["gate"] += g.sum(dim=0)
        if labels is not None and self.num_regimes:
            s["regimes"] += regime_matrix(g, labels, self.num_regimes)[0]
        self.steps += 1
        self.samples += g.shape[0]

    def record(self) -> dict:
        """Means since the last record, as plain Python numbers (one device->host copy)."""
        host = {k: v.cpu() for k, v in self.sums.items()}
        n = max(self.steps, 1)
        load = host["gate"] / max(self.samples, 1)  # (E,) mean gate probability per expert
        routing = float(host["routing_entropy"]) / n
        load_entropy = float(compute_entropy(load))
        rec = {
            "loss": float(host["loss"]) / n,
            "total_loss": float(host["total_loss"]) / n,
            "routing_entropy": routing,
            "load_entropy": load_entropy,
            "specialisation": max(load_entropy - routing, 0.0),
            "varentropy": float(host["varentropy"]) / n,
            "expert_load": load.tolist(),
            "mi_regime": None,
            "regime_matrix": None,
        }
        if self.num_regimes and host["regimes"].sum() > 0:
            counts = host["regimes"].sum(dim=0).clamp_min(1e-12)  # (K,) samples seen per regime
            rec["mi_regime"] = float(mutual_information(host["regimes"]))
            rec["regime_matrix"] = (host["regimes"] / counts).tolist()  # (E, K) mean gate per regime
        return rec


def _evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Mean squared error on a held-out set, in batches, without gradients."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            pred = model(x[i : i + batch_size])
            total += float(torch.nn.functional.mse_loss(pred, y[i : i + batch_size], reduction="sum"))
    return total / y.numel()


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
) -> TrainResult:
    """Train with Adam on MSE + lambda * H_route (+ balance_coef * (log2 E - H_load)).

    dataloader yields (x, y) or (x, y, regime_labels). Returns how the run ended; never raises for a
    diverged or failing run (the reason is in the result and in the callbacks' train_end).
    """
    control = control or TrainingControl()
    cbs = _Callbacks(callbacks)
    if seed is not None:
        with SEED_LOCK:
            torch.manual_seed(seed)
    dev = resolve_device(device)
    model.to(dev).train()
    # The fused Adam kernel (one pass over all parameters) takes ~25% off a default CPU step, measured.
    fused = dev.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, fused=fused or None)
    E = model.moe.num_experts
    K = len(regime_names) if regime_names else 0
    if val_data is not None:
        val_data = tuple(t.to(dev) for t in val_data)
    probe_x = probe[0].to(dev) if probe is not None else None
    probe_labels = probe[1].tolist() if probe is not None and probe[1] is not None else None
    total_steps = num_epochs * len(dataloader)
    info = {
        "total_steps": total_steps, "num_experts": E, "regime_names": regime_names,
        "probe_labels": probe_labels, "device": str(dev),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }  # fmt: skip
    cbs.emit(TrainEvent("train_start", info=info), "on_train_start", info)

    acc = MetricsAccumulator(E, K, dev)
    first_bad_step = torch.zeros((), dtype=torch.long, device=dev)  # 0 = every loss so far was finite
    step, epoch, last_record = 0, 0, None
    epochs_since_val = 0
    elapsed = 0.0
    interval_start = time.perf_counter()
    status, reason = "finished", f"finished {num_epochs} epoch{'s' if num_epochs != 1 else ''}"

    def log(final: bool) -> dict:
        nonlocal interval_start, elapsed, epochs_since_val
        rec = acc.record()
        interval = time.perf_counter() - interval_start
        elapsed += interval
        rec.update(
            step=step, epoch=epoch, total_steps=total_steps, time_s=elapsed,
            samples_per_s=acc.samples / interval if interval > 0 else 0.0,
            lambda_entropy=model.moe.lambda_entropy, balance_coef=model.moe.balance_coef, val_loss=None,
        )  # fmt: skip
        model.eval()
        if val_data is not None and (final or step == total_steps or epochs_since_val > 0):
            rec["val_loss"] = _evaluate(model, *val_data)
            epochs_since_val = 0
        if probe_x is not None:
            with torch.no_grad():
                model(probe_x)
            rec["probe_gates"] = model.moe.gate_probs.cpu().tolist()
        model.train()
        acc.reset()
        cbs.emit(TrainEvent("step_end", record=rec), "on_step_end", rec)
        interval_start = time.perf_counter()  # callbacks' own time is not training time
        return rec

    try:
        for epoch in range(num_epochs):
            for batch in dataloader:
                paused_for = control._wait_while_paused(lambda: cbs.emit(TrainEvent("paused"), "on_paused"))
                interval_start += paused_for
                if control.stopped:
                    break
                new_lambda = control._take_lambda()
                if new_lambda is not None:
                    model.moe.lambda_entropy = new_lambda
                    change = {"step": step, "kind": "lambda_change", "value": new_lambda}
                    cbs.emit(TrainEvent("lambda_change", record=change), "on_lambda_change", change)

                x, y = batch[0].to(dev, non_blocking=True), batch[1].to(dev, non_blocking=True)
                labels = batch[2].to(dev, non_blocking=True) if len(batch) > 2 and K else None
                parts = regularised_loss(model, torch.nn.functional.mse_loss(model(x), y))
                optimizer.zero_grad(set_to_none=True)
                parts.total.backward()
                optimizer.step()
                step += 1
                acc.add(parts, model.moe.gate_probs, labels)
                bad = ~torch.isfinite(parts.total.detach())
                first_bad_step = torch.where(bad & (first_bad_step == 0), step, first_bad_step)

                if step % log_every == 0:
                    if int(first_bad_step):  # the one host sync per log step
                        break
                    last_record = log(final=False)
                    control._after_log()
            else:
                epochs_since_val += 1
                continue
            break  # stopped or diverged inside the epoch

        bad_at = int(first_bad_step)
        if bad_at:
            status, reason = "diverged", f"diverged at step {bad_at}: the loss became NaN or infinite"
        elif control.stopped:
            status, reason = "stopped", f"stopped {control.stop_reason} at step {step}"
        if not bad_at and acc.steps:  # steps since the last record: one final record, with validation
            last_record = log(final=True)
        elif not bad_at and last_record is not None and last_record["val_loss"] is None and val_data is not None:
            # stopped just after a log step: repeat that record with the validation loss a final one has
            model.eval()
            last_record = {**last_record, "val_loss": _evaluate(model, *val_data)}
            model.train()
            cbs.emit(TrainEvent("step_end", record=last_record), "on_step_end", last_record)
    except Exception as exc:  # a failing run must end visibly, with its reason, not kill the thread silently
        status, reason = "failed", f"failed at step {step}: {type(exc).__name__}: {exc}"

    result = TrainResult(status, reason, step, last_record, elapsed)
    cbs.emit(TrainEvent("train_end", result=result, model=model), "on_train_end", result, model)
    return result
