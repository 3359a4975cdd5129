"""The validation loss: the one function that measures a model on held-out windows.

The training loop calls it for the metrics records and the CLI for its end-of-run summary, so "val loss"
means the same number wherever it is shown.
"""

import torch


def validation_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Mean squared error of model(x) against y (both (N, S, F)), in batches, without gradients.

    Batches are moved to the model's device one at a time, so the held-out set may stay on the host. The
    model is evaluated in eval mode and left in the mode it was in."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0  # summed squared error; divided once at the end, so the batch size does not matter
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            pred = model(x[i : i + batch_size].to(device))  # (b, S, F)
            target = y[i : i + batch_size].to(device)  # (b, S, F)
            total += float(torch.nn.functional.mse_loss(pred, target, reduction="sum"))
    model.train(was_training)
    return total / y.numel()
