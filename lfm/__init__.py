"""LFM Entropy Lab's core: the LFModel, its entropy toolkit, data, training and the run store.

The tree shows the layers (docs/architecture.md; README.md "How it fits together"):

    lfm.config    the settings: one FIELDS list for JSON files, CLI, form and URL (no torch)
    lfm.datasets  the registry of data sets: name, description, labels, builder (no torch)
    lfm.nn        the model core: layers, moe, model, entropy (torch only, no I/O)
    lfm.data      the data sets: windows and regime labels (torch)
    lfm.training  the training loop and its callbacks; preparing and executing a run
    lfm.store     the run store: writer, reader, checkpoints, results, export, watcher (no torch at import)
    lfm.lab       the dashboard's services: background jobs, sweeps, exploring a model
    lfm.cli       `python -m lfm`

Every name of the documented API is importable from here. The imports are lazy (PEP 562), so
`import lfm.store` reads runs without loading torch. This package never imports a UI library.
"""
import importlib

_API = {  # public name -> the module that defines it
    **dict.fromkeys(("AdaptiveLinear", "ChannelMixing", "TokenMixing"), "lfm.nn.layers"),
    "MixtureOfExperts": "lfm.nn.moe",
    **dict.fromkeys(("LFModel", "build_model"), "lfm.nn.model"),
    **dict.fromkeys(("compute_entropy", "varentropy", "gate_entropies", "load_balance_loss", "mutual_information",
                     "entropy_regularization_loss", "regularised_loss"), "lfm.nn.entropy"),
    **dict.fromkeys(("train_model", "TrainResult"), "lfm.training.loop"),
    "TrainEvent": "lfm.training.callbacks",
    "TrainingControl": "lfm.training.control",
    **dict.fromkeys(("available_devices", "resolve_device"), "lfm.training.devices"),
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'lfm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # cache: the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
