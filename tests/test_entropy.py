"""The entropy toolkit: bits, bounds, the three gate entropies, mutual information and the loss formula."""

import math

import pytest
import torch

from lfm import LFModel, compute_entropy, entropy_regularization_loss, gate_entropies, load_balance_loss, mutual_information, regularised_loss, varentropy


@pytest.mark.parametrize("E", [1, 2, 4, 7])
def test_uniform_gates_have_log2_E_bits(E):
    p = torch.full((3, E), 1.0 / E)
    torch.testing.assert_close(compute_entropy(p), torch.full((3,), math.log2(E)))
    h = gate_entropies(p)
    assert h.routing.item() == pytest.approx(math.log2(E), abs=1e-5)
    assert h.load.item() == pytest.approx(math.log2(E), abs=1e-5)
    assert h.specialisation.item() == pytest.approx(0.0, abs=1e-5)
    assert varentropy(p).abs().max() < 1e-5  # every expert equally surprising


def test_one_hot_gates():
    p = torch.eye(4)  # each sample sure of a different expert
    h = gate_entropies(p)
    assert h.routing.item() == pytest.approx(0.0, abs=1e-5)
    assert h.load.item() == pytest.approx(2.0, abs=1e-5)
    assert h.specialisation.item() == pytest.approx(2.0, abs=1e-5)
    assert load_balance_loss(p).item() == pytest.approx(0.0, abs=1e-5)
    collapsed = torch.tensor([[1.0, 0, 0, 0]] * 4)
    assert load_balance_loss(collapsed).item() == pytest.approx(2.0, abs=1e-5)


def test_entropy_known_value_and_varentropy():
    p = torch.tensor([0.5, 0.25, 0.25])
    assert compute_entropy(p).item() == pytest.approx(1.5)
    # surprisals 1, 2, 2 bits with weights .5 .25 .25: mean 1.5, variance .5*.25 + .5*.25 = 0.25
    assert varentropy(p).item() == pytest.approx(0.25)


def test_entropy_is_differentiable_at_zero_probabilities():
    logits = torch.tensor([[30.0, -30.0, 0.0]], requires_grad=True)
    compute_entropy(torch.softmax(logits, -1)).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_mutual_information():
    assert mutual_information(torch.eye(3)).item() == pytest.approx(math.log2(3), abs=1e-5)
    independent = torch.outer(torch.tensor([0.2, 0.8]), torch.tensor([0.5, 0.3, 0.2]))
    assert mutual_information(independent).item() == pytest.approx(0.0, abs=1e-5)


def test_loss_formula():
    torch.manual_seed(0)
    model = LFModel(8, 8, 8, 4, 3, lambda_entropy=0.7, sequence_length=5)
    x = torch.randn(6, 5, 8)
    primary = torch.nn.functional.mse_loss(model(x), x)
    expected = primary + 0.7 * compute_entropy(model.moe.gate_probs).mean()
    torch.testing.assert_close(entropy_regularization_loss(model, primary), expected)
    assert regularised_loss(model, primary).total.item() == pytest.approx(expected.item())
    model.moe.balance_coef = 0.5
    parts = regularised_loss(model, primary)
    balance = math.log2(3) - compute_entropy(model.moe.gate_probs.mean(0))
    assert parts.total.item() == pytest.approx((expected + 0.5 * balance).item(), rel=1e-5)
    assert parts.primary is primary and parts.balance.item() == pytest.approx(balance.item())
