"""The model core: layers, the mixture of experts, the LFModel and the entropy toolkit.

Torch only: nothing here reads or writes files, starts threads or knows about runs.
"""
from .entropy import (compute_entropy, entropy_regularization_loss, gate_entropies, load_balance_loss,
                      mutual_information, regularised_loss, varentropy)
from .layers import AdaptiveLinear, ChannelMixing, TokenMixing
from .model import LFModel, build_model
from .moe import MixtureOfExperts

__all__ = ["AdaptiveLinear", "ChannelMixing", "TokenMixing", "MixtureOfExperts", "LFModel", "build_model",
           "compute_entropy", "varentropy", "gate_entropies", "load_balance_loss", "mutual_information",
           "entropy_regularization_loss", "regularised_loss"]
