"""Training: the loop (train_model), its callbacks, control, metrics and validation loss, and preparing
and executing one run.

    loop.py        train_model and the Trainer that runs it; TrainResult
    callbacks.py   the callback protocol, TrainEvent and the adapter for plain functions
    control.py     TrainingControl: stop, pause, step, change lambda from another thread
    metrics.py     MetricsAccumulator: device-side sums, fetched once per log step
    schedule.py    the lambda schedule: the factor (constant, warmup, cosine) that scales lambda per step
    evaluate.py    validation_loss, shared with the CLI
    devices.py     available_devices, resolve_device
    experiment.py  prepare_run / execute: one run from a RunConfig into the run store

Uses lfm.nn for the model, lfm.data for the windows and lfm.store to record a run.
"""
from .callbacks import Callback, TrainEvent
from .control import TrainingControl
from .devices import available_devices, resolve_device
from .evaluate import validation_loss
from .loop import TrainResult, train_model

__all__ = ["train_model", "TrainingControl", "TrainResult", "TrainEvent", "Callback", "available_devices",
           "resolve_device", "validation_loss"]
