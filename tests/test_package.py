"""The tree's import rules, checked: each layer of lfm imports only what its layer may.

    lfm.store     no torch at import, except lfm.store.checkpoint
    lfm.config    no torch
    lfm.nn        imports no other part of lfm
    lfm (all)     no UI library (streamlit, altair)

Each check imports the modules in a fresh interpreter and looks at what got loaded, so an import
hidden three modules deep is caught too.
"""

import json
import pkgutil
import subprocess
import sys

import pytest

import lfm

UI_LIBRARIES = ("streamlit", "altair")


def all_modules(package: str = "lfm") -> list[str]:
    """Every module of the package, subpackages included (not __main__, which runs the CLI)."""
    root = __import__(package)
    return sorted(m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
                  if not m.name.endswith("__main__"))


def loaded_after_import(modules: list[str]) -> set[str]:
    """Top-level and lfm.* module names loaded by importing `modules` in a fresh interpreter."""
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(n for n in sys.modules if '.' not in n or n.startswith('lfm.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_the_tree_has_its_layers():
    modules = all_modules()
    for layer in ("lfm.nn", "lfm.training", "lfm.store", "lfm.lab", "lfm.config", "lfm.data", "lfm.cli"):
        assert layer in modules, layer


def test_lfm_imports_no_ui_library():
    loaded = loaded_after_import(all_modules())
    assert not loaded & set(UI_LIBRARIES)


def test_importing_lfm_itself_loads_nothing_heavy():
    loaded = loaded_after_import(["lfm"])
    assert "torch" not in loaded and "pandas" not in loaded


@pytest.mark.parametrize("module", [m for m in all_modules() if m.startswith("lfm.store")
                                    and m != "lfm.store.checkpoint"] + ["lfm.config"])
def test_the_run_store_and_the_settings_need_no_torch(module):
    assert "torch" not in loaded_after_import([module])


@pytest.mark.parametrize("module", [m for m in all_modules() if m.startswith("lfm.nn")])
def test_the_model_core_is_torch_only(module):
    loaded = loaded_after_import([module])
    assert {n for n in loaded if n.startswith("lfm.")} <= {"lfm.nn", *(m for m in all_modules() if m.startswith("lfm.nn."))}
    assert "pandas" not in loaded  # no data frames, no files: the run store is another layer


def test_the_documented_api_is_importable_from_lfm():
    for name in ("AdaptiveLinear", "TokenMixing", "ChannelMixing", "MixtureOfExperts", "LFModel",
                 "compute_entropy", "entropy_regularization_loss", "train_model"):
        assert hasattr(lfm, name), name
    assert set(lfm.__all__) <= set(dir(lfm))
    with pytest.raises(AttributeError):
        lfm.no_such_name  # noqa: B018


def test_store_reads_runs_without_torch(tmp_path):
    """`import lfm.store` and reading a run work where torch cannot be imported at all."""
    code = ("import sys\nsys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
            "from lfm.store import RunReader, RunWriter\n"
            f"w = RunWriter({str(tmp_path)!r}, {{'hyperparameters': {{}}}}, name='no torch')\n"
            "w.on_step_end({'step': 1, 'loss': 0.5, 'expert_load': [0.5, 0.5]})\n"
            "print(RunReader(w.path.parent).last_metrics(w.run_id)['loss'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.5"
