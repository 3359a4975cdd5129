"""Training: the loop (train_model and its callbacks), and preparing and executing one run.

Uses lfm.nn for the model, lfm.data for the windows and lfm.store to record a run.
"""
from .loop import TrainEvent, TrainingControl, TrainResult, available_devices, resolve_device, train_model

__all__ = ["train_model", "TrainingControl", "TrainResult", "TrainEvent", "available_devices", "resolve_device"]
