"""Benchmarks of the lfm core, measured side by side in one run (nothing here is asserted by the tests).

1. AdaptiveLinear forward+backward, batched (one baddbmm) vs a Python loop over samples, at B = 16 and 64.
2. The default-config training step: lfm.train_model (callbacks, metrics, validation, run store writer)
   vs a plain hand-written batched loop of the same model on the same batches.

Usage: .venv/bin/python bench/bench_core.py [--repeats 3]
"""

import argparse
import statistics
import tempfile
import time

import torch

from lfm import AdaptiveLinear, regularised_loss, train_model
from lfm.config import RunConfig
from lfm.training.experiment import open_run, prepare_run


def per_sample_loop(layer: AdaptiveLinear, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The seed's formula applied one sample at a time (what its code would need to work at B > 1)."""
    out = []
    for b in range(x.shape[0]):
        w = layer.weight + layer.adapt(a[b]).view(layer.out_features, layer.in_features)
        out.append(x[b] @ w.T + layer.bias)
    return torch.stack(out)


def time_it(fn, repeats: int, inner: int) -> float:
    """Median seconds per call over `repeats` timings of `inner` calls, after a warm-up."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def bench_adaptive_linear(repeats: int) -> None:
    print("AdaptiveLinear(64, 64, adapt_dim=32), x (B, 10, 64), forward + backward")
    print(f"{'B':>4} {'batched ms':>11} {'loop ms':>9} {'speed-up':>9}")
    for B in (16, 64):
        torch.manual_seed(0)
        layer = AdaptiveLinear(64, 64, 32)
        x, a = torch.randn(B, 10, 64), torch.randn(B, 32)
        batched = time_it(lambda: layer(x, a).sum().backward(), repeats, 50)
        loop = time_it(lambda: per_sample_loop(layer, x, a).sum().backward(), repeats, 10)
        print(f"{B:>4} {batched * 1e3:>11.3f} {loop * 1e3:>9.3f} {loop / batched:>8.1f}x")


def plain_loop(model, loader, epochs: int, lr: float) -> int:
    """The reference: a hand-written batched training loop of the same model and loss, nothing else."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    steps = 0
    for _ in range(epochs):
        for x, y, *_ in loader:
            loss = regularised_loss(model, torch.nn.functional.mse_loss(model(x), y)).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    return steps


def bench_training(repeats: int) -> None:
    cfg = RunConfig()  # the documented defaults on the default regimes data
    t = cfg.training
    print(f"\nDefault config training ({t.num_epochs} epochs, batch {t.batch_size}, log_every {t.log_every}), "
          f"{torch.get_num_threads()} torch threads")
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
            run = prepare_run(cfg, runs_dir)
            loader = run.data.train_loader(t.batch_size, t.seed)
            start = time.perf_counter()
            steps = plain_loop(run.model, loader, t.num_epochs, t.learning_rate)
            plain.append((time.perf_counter() - start) / steps)

            run = prepare_run(cfg, runs_dir)
            writer = open_run(run)
            start = time.perf_counter()
            result = train_model(
                run.model, run.data.train_loader(t.batch_size, t.seed), t.num_epochs, t.learning_rate,
                callbacks=[writer], log_every=t.log_every, val_data=(run.data.x_val, run.data.y_val),
                probe=run.data.probe(), regime_names=run.data.regime_names, device="cpu",
            )  # fmt: skip
            ours.append((time.perf_counter() - start) / result.steps)
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"{'loop':<32} {'ms/step':>8} {'steps/s':>8}")
    print(f"{'plain hand-written loop':<32} {p * 1e3:>8.2f} {1 / p:>8.1f}")
    print(f"{'lfm.train_model + run store':<32} {o * 1e3:>8.2f} {1 / o:>8.1f}")
    print(f"ratio train_model / plain: {o / p:.3f}x (median of {repeats})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bench_adaptive_linear(args.repeats)
    bench_training(args.repeats)
