"""MixtureOfExperts: documented attributes, gate rows sum to 1, output is the gate-weighted sum of experts."""

import math

import pytest
import torch

from lfm import AdaptiveLinear, MixtureOfExperts


@pytest.mark.parametrize("E", [1, 3, 4])
def test_gate_rows_sum_to_one_and_entropy_kept(E):
    torch.manual_seed(E)
    moe = MixtureOfExperts(6, E, 3, lambda_entropy=0.2)
    torch.nn.init.normal_(moe.gating.weight)
    x, a = torch.randn(5, 4, 6), torch.randn(5, 3)
    y = moe(x, a)
    assert y.shape == x.shape and moe.gate_probs.shape == (5, E)
    torch.testing.assert_close(moe.gate_probs.sum(-1), torch.ones(5))
    assert moe.entropy.requires_grad and 0 <= moe.entropy.item() <= math.log2(E) + 1e-6
    assert moe.lambda_entropy == 0.2 and isinstance(moe.experts[0], AdaptiveLinear)


def test_output_is_gate_weighted_sum_of_experts():
    torch.manual_seed(0)
    moe = MixtureOfExperts(4, 3, 2)
    torch.nn.init.normal_(moe.gating.weight)
    x, a = torch.randn(2, 5, 4), torch.randn(2, 2)
    y = moe(x, a)
    p = torch.softmax(moe.gating(a), -1)
    expected = sum(p[:, e, None, None] * moe.experts[e](x, a) for e in range(3))
    torch.testing.assert_close(y, expected)


def test_gate_starts_nearly_uniform():
    torch.manual_seed(0)
    moe = MixtureOfExperts(4, 4, 2)
    moe(torch.randn(3, 2, 4), torch.randn(3, 2))
    assert 1.99 < moe.entropy.item() < 2.0  # not exactly uniform, where the entropy gradient vanishes
