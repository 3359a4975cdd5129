"""LFModel: documented signature, shapes, O(1) start, input projection for other feature counts."""

import pytest
import torch

from lfm import LFModel


def test_shapes_and_documented_attributes():
    model = LFModel(16, 16, 16, 8, 4, 0.05, sequence_length=6)
    x = torch.randn(3, 6, 16)
    assert model(x).shape == x.shape
    assert model.moe.lambda_entropy == 0.05 and model.moe.gate_probs.shape == (3, 4)


def test_first_loss_is_order_one_on_unit_data():
    # The seed's randn initialisation gave a first loss near 3e4 on unit-variance data.
    torch.manual_seed(0)
    model = LFModel(64, 64, 64, 32, 4, sequence_length=10)
    x, y = torch.randn(64, 10, 64), torch.randn(64, 10, 64)
    loss = torch.nn.functional.mse_loss(model(x), y).item()
    assert 0.5 < loss < 3.0


def test_input_projection_when_features_differ():
    model = LFModel(8, 8, 8, 4, 2, sequence_length=5, input_features=3)
    assert model(torch.randn(2, 5, 3)).shape == (2, 5, 3)


def test_dimensions_must_agree():
    with pytest.raises(ValueError, match="channel_dim"):
        LFModel(8, 16, 8, 4, 2, sequence_length=5)


def test_batch_independence():
    """A sample's output does not depend on the other samples in its batch."""
    torch.manual_seed(1)
    model = LFModel(8, 8, 8, 4, 3, sequence_length=5)
    x = torch.randn(4, 5, 8)
    torch.testing.assert_close(model(x)[:1], model(x[:1]))
