"""lfm/training/evaluate.py: the one validation loss, used by train_model's records and the CLI's summary."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lfm import LFModel, train_model
from lfm.training.evaluate import validation_loss


def tiny_model():
    torch.manual_seed(0)
    return LFModel(8, 8, 8, 4, 3, 0.1, sequence_length=5)


@pytest.mark.parametrize("batch_size", [1, 7, 512])
def test_is_the_mse_over_the_whole_set_whatever_the_batch_size(batch_size):
    model = tiny_model()
    x, y = torch.randn(20, 5, 8), torch.randn(20, 5, 8)
    with torch.no_grad():
        expected = float(torch.nn.functional.mse_loss(model(x), y))
    assert validation_loss(model, x, y, batch_size=batch_size) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_leaves_the_model_in_its_mode_and_its_gradients_alone(training):
    model = tiny_model().train(training)
    validation_loss(model, torch.randn(4, 5, 8), torch.randn(4, 5, 8))
    assert model.training is training
    assert all(p.grad is None for p in model.parameters())


def test_the_last_record_holds_exactly_this_loss_of_the_trained_model():
    x = torch.randn(32, 5, 8)
    loader = DataLoader(TensorDataset(x, x.roll(-1, dims=1)), batch_size=8)
    val = (torch.randn(10, 5, 8), torch.randn(10, 5, 8))
    model = tiny_model()
    result = train_model(model, loader, 2, 1e-2, log_every=3, val_data=val)
    assert result.last_record["step"] == 8
    assert result.last_record["val_loss"] == validation_loss(model, *val)
