"""lfm/training/callbacks.py: one callback protocol; plain functions adapted at the edge."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lfm import LFModel, TrainEvent, train_model
from lfm.training.callbacks import METHODS, Callbacks, FunctionCallback, as_callback
from lfm.training.loop import TrainResult


def test_the_adapter_turns_every_method_into_one_event():
    events = []
    cb = FunctionCallback(events.append)
    result, model = TrainResult("finished", "done", 3, None, 0.1), object()
    cb.on_train_start({"total_steps": 3})
    cb.on_step_end({"step": 1})
    cb.on_lambda_change({"step": 1, "kind": "lambda_change", "value": 0.5})
    cb.on_paused()
    cb.on_train_end(result, model)
    assert events == [
        TrainEvent("train_start", info={"total_steps": 3}),
        TrainEvent("step_end", record={"step": 1}),
        TrainEvent("lambda_change", record={"step": 1, "kind": "lambda_change", "value": 0.5}),
        TrainEvent("paused"),
        TrainEvent("train_end", result=result, model=model),
    ]
    assert all(hasattr(cb, name) for name in METHODS)


class OnlyEnd:
    """A callback object with one of the five methods."""

    def __init__(self):
        self.ended = []

    def on_train_end(self, result, model):
        self.ended.append(result.status)

    def __call__(self, event):  # never used: an object with on_* methods is taken as an object
        raise AssertionError("called as a function")


def test_objects_are_kept_functions_adapted_and_anything_else_refused():
    obj = OnlyEnd()
    assert as_callback(obj) is obj
    assert isinstance(as_callback(lambda event: None), FunctionCallback)
    with pytest.raises(TypeError, match="on_train_start.*function of a TrainEvent"):
        as_callback(42)


def test_callbacks_fan_out_in_order_and_skip_missing_methods():
    calls = []

    class Steps:
        def on_step_end(self, record):
            calls.append(("object", record["step"]))

    callbacks = Callbacks([Steps(), lambda e: calls.append((e.name, e.record and e.record["step"])), OnlyEnd()])
    callbacks.on_step_end({"step": 7})
    callbacks.on_paused()  # only the function hears it
    assert calls == [("object", 7), ("step_end", 7), ("paused", None)]


def tiny_run(callbacks):
    torch.manual_seed(0)
    x = torch.randn(32, 5, 8)
    loader = DataLoader(TensorDataset(x, x.roll(-1, dims=1)), batch_size=16)
    return train_model(LFModel(8, 8, 8, 4, 3, 0.0, sequence_length=5), loader, 1, 1e-3, callbacks=callbacks,
                       log_every=1)


def test_train_model_calls_objects_and_functions_alike():
    obj, names = OnlyEnd(), []
    result = tiny_run([obj, lambda e: names.append(e.name)])
    assert obj.ended == [result.status] == ["finished"]
    assert names == ["train_start", "step_end", "step_end", "train_end"]


def test_train_model_refuses_a_callback_that_is_neither_before_training():
    with pytest.raises(TypeError, match="training callback"):
        tiny_run(["not a callback"])
