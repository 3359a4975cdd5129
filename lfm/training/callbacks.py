"""The callback protocol: how whoever watches a run (the run store's writer, the CLI's progress bar, the
dashboard) hears what the training loop does.

There is one protocol, `Callback`: an object with any of the five `on_*` methods below; the loop calls
them in this order:

    on_train_start(info)                once, before the first step: total_steps, num_experts, device ...
    on_step_end(record)                 every log_every steps and once at the end: one metrics record
    on_lambda_change(change)            when TrainingControl.set_lambda took effect
    on_paused()                         about once a second while the run is paused
    on_train_end(result, model)         once, however the run ended

A plain function is also welcome as a callback: `FunctionCallback` adapts it at the edge, calling
`fn(TrainEvent)` for every moment. `Callbacks` holds the adapted list and fans each call out, so the
loop itself only ever talks to one object with the five methods (like minGPT's `trigger_callbacks`).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

if TYPE_CHECKING:
    from .loop import TrainResult

METHODS = ("on_train_start", "on_step_end", "on_lambda_change", "on_paused", "on_train_end")


class Callback(Protocol):
    """What the loop calls. A callback object may define only some of these; the others are skipped."""

    def on_train_start(self, info: dict) -> None: ...

    def on_step_end(self, record: dict) -> None: ...

    def on_lambda_change(self, change: dict) -> None: ...

    def on_paused(self) -> None: ...

    def on_train_end(self, result: "TrainResult", model: Any) -> None: ...


@dataclass
class TrainEvent:
    """What a plain-function callback receives: `fn(event)`, with event.name telling which moment."""

    name: str  # "train_start" | "step_end" | "lambda_change" | "paused" | "train_end"
    info: dict | None = None  # train_start: what on_train_start gets
    record: dict | None = None  # step_end: the metrics record; lambda_change: the change
    result: "TrainResult | None" = None  # train_end: how the run ended
    model: Any = None  # train_end: the trained model


class FunctionCallback:
    """Adapts a plain function fn(TrainEvent) to the Callback protocol."""

    def __init__(self, fn: Callable[[TrainEvent], Any]):
        self.fn = fn

    def on_train_start(self, info: dict) -> None:
        self.fn(TrainEvent("train_start", info=info))

    def on_step_end(self, record: dict) -> None:
        self.fn(TrainEvent("step_end", record=record))

    def on_lambda_change(self, change: dict) -> None:
        self.fn(TrainEvent("lambda_change", record=change))

    def on_paused(self) -> None:
        self.fn(TrainEvent("paused"))

    def on_train_end(self, result: "TrainResult", model: Any) -> None:
        self.fn(TrainEvent("train_end", result=result, model=model))


def as_callback(cb: Any) -> Callback:
    """A callback object as it is; a plain function wrapped in FunctionCallback; anything else refused."""
    if any(hasattr(cb, name) for name in METHODS):
        return cb
    if callable(cb):
        return FunctionCallback(cb)
    raise TypeError(f"a training callback needs one of the methods {', '.join(METHODS)} or must be a "
                    f"function of a TrainEvent; got {type(cb).__name__}")


class Callbacks:
    """Many callbacks seen as one: each on_* call goes to every callback that defines it, in order."""

    def __init__(self, callbacks: Iterable = ()):
        self.items = [as_callback(cb) for cb in callbacks or ()]
        # the bound methods, looked up once: the loop calls on_step_end at every log step
        self._handlers = {name: [getattr(cb, name) for cb in self.items if hasattr(cb, name)]
                          for name in METHODS}

    def on_train_start(self, info: dict) -> None:
        for handler in self._handlers["on_train_start"]:
            handler(info)

    def on_step_end(self, record: dict) -> None:
        for handler in self._handlers["on_step_end"]:
            handler(record)

    def on_lambda_change(self, change: dict) -> None:
        for handler in self._handlers["on_lambda_change"]:
            handler(change)

    def on_paused(self) -> None:
        for handler in self._handlers["on_paused"]:
            handler()

    def on_train_end(self, result: "TrainResult", model: Any) -> None:
        for handler in self._handlers["on_train_end"]:
            handler(result, model)
