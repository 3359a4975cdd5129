"""Shared test set-up: one torch thread per test process.

The models under test are tiny; on a 2-core machine a second intra-op thread gains little, and when
another process (a Streamlit server under test, a training thread) also computes, OpenMP's spinning
threads can slow everything down by an order of magnitude.
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A fresh run store for the dashboard under test (the pages read LFM_RUNS_DIR)."""
    monkeypatch.setenv("LFM_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"
