"""Shared test set-up: one torch thread per test process.

The models under test are tiny; on a 2-core machine a second intra-op thread gains little, and when
another process (a Streamlit server under test, a training thread) also computes, OpenMP's spinning
threads can slow everything down by an order of magnitude.
"""

import torch

torch.set_num_threads(1)
