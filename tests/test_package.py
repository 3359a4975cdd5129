"""The lfm package is the core: importing every module of it loads no UI library."""

import pkgutil
import subprocess
import sys

import lfm


def test_lfm_imports_no_ui_library():
    modules = [f"lfm.{m.name}" for m in pkgutil.iter_modules(lfm.__path__) if m.name != "__main__"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('streamlit', 'altair')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert len(modules) >= 12  # layers, moe, model, entropy, config, data, train, runs, ... all of them
    assert out.strip() == "[]"


def test_the_documented_api_is_importable_from_lfm():
    for name in ("AdaptiveLinear", "TokenMixing", "ChannelMixing", "MixtureOfExperts", "LFModel",
                 "compute_entropy", "entropy_regularization_loss", "train_model"):
        assert hasattr(lfm, name), name
