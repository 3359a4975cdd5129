"""How much does a learned gate summary leak? (Nothing here is asserted by tests.)

Position t predicts step t + 1, so a window holds the target of every position but the last, and a
summary shared by all positions can hand targets to the early ones. This trains three models on the
"Seeing gate" settings (shared regime levels, lambda 0.5, balance 1.0, S = 24, 20 epochs, seed 0), one
at a time:

  mean         the seed's window mean (as the "Blind gate" preset): every position scored
  conv         the learned summary as shipped: reads steps 0..P-1 (P = S/2), scores positions P-1..S-1
  conv, leaky  the same summary reading the whole window, every position scored: the variant to avoid

and prints, on the validation windows, the MSE over every position, over the scored positions and on
the forecast step alone (the last position, whose target is in no input: honest for all three), next to
the repeat-last-value baseline, with I(expert; regime). A leak shows as an all-position loss far below
what the forecast step reaches.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_gate_summary.py [--set name=value ...]
"""

import argparse
import time

import torch

from lfm.config import RunConfig, load_presets
from lfm.training.experiment import prepare_run
from lfm.training.loop import train_model


def validation_losses(model, data) -> dict:
    """MSE over every position, over the scored ones and on the last (forecast) step."""
    model.eval()
    with torch.no_grad():
        pred = model(data.x_val)  # (M, S, F)
    err = (pred - data.y_val) ** 2  # (M, S, F)
    return {"all": err.mean().item(), "scored": err[:, model.first_scored :].mean().item(),
            "forecast": err[:, -1].mean().item()}


def train(cfg: RunConfig, leaky: bool = False) -> dict:
    run = prepare_run(cfg, "unused")  # prepare only: no run folder is written
    if leaky:  # read the whole window and score every position: the summary now holds targets
        run.model.summary.prefix = cfg.training.sequence_length
        run.model.summary.first_scored = 0
    t = cfg.training
    start = time.perf_counter()
    result = train_model(run.model, run.data.train_loader(t.batch_size, t.seed), t.num_epochs, t.learning_rate,
                         seed=t.seed, log_every=t.log_every, val_data=(run.data.x_val, run.data.y_val),
                         probe=run.data.probe(), regime_names=run.data.regime_names)
    persistence = ((run.data.x_val[:, -1] - run.data.y_val[:, -1]) ** 2).mean().item()
    return {**validation_losses(run.model, run.data), "mi": result.last_record["mi_regime"],
            "persistence": persistence, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeing = RunConfig().with_overrides(load_presets()["Seeing gate"].overrides)
    seeing = seeing.with_overrides(dict(item.split("=", 1) for item in args.set))
    rows = [("mean", train(seeing.with_overrides({"gate_summary": "mean"}))),
            ("conv", train(seeing)),
            ("conv, leaky", train(seeing, leaky=True))]
    print(f"forecast-step MSE of repeating the last value: {rows[0][1]['persistence']:.4f}")
    print("| summary | val MSE, all positions | val MSE, scored positions | val MSE, forecast step | "
          "I(expert; regime) | train time |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['all']:.4f} | {r['scored']:.4f} | {r['forecast']:.4f} | {r['mi']:.3f} bits | "
              f"{r['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
