"""LFM Entropy Lab's core: the LFModel, its entropy toolkit, data, training and the run store.

Everything the documented API names is importable from here. This package never imports a UI library.
"""

from .entropy import (
    compute_entropy,
    entropy_regularization_loss,
    gate_entropies,
    load_balance_loss,
    mutual_information,
    regularised_loss,
    varentropy,
)
from .layers import AdaptiveLinear, ChannelMixing, TokenMixing
from .model import LFModel, build_model
from .moe import MixtureOfExperts
from .train import TrainEvent, TrainingControl, TrainResult, available_devices, resolve_device, train_model

__all__ = [
    "AdaptiveLinear", "ChannelMixing", "TokenMixing", "MixtureOfExperts", "LFModel", "build_model",
    "compute_entropy", "varentropy", "gate_entropies", "load_balance_loss", "mutual_information",
    "entropy_regularization_loss", "regularised_loss",
    "train_model", "TrainingControl", "TrainResult", "TrainEvent", "available_devices", "resolve_device",
]  # fmt: skip
