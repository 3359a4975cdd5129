"""Does a lambda schedule help the Specialise preset? (Nothing here is asserted by tests.)

Trains the "Specialise (lambda > 0 + balance)" preset (lambda 0.3, balance 0.5, 20 epochs, default data)
once per lambda schedule and seed, one run at a time, and prints per schedule the final I(expert; regime)
(the lesson's measure: 2 bits = each of the four regimes on its own expert) as mean ± sd over the seeds
and per seed, the final routing and load entropy and validation loss, and the first step at which
I(expert; regime) reached 1.8 bits (how soon a class would see the regimes sorted).

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_schedule.py [--seeds 0,1,2]
       [--schedules constant,warmup,cosine] [--set name=value ...]
"""

import argparse
import statistics
import time

import torch

from lfm.config import RunConfig, load_presets
from lfm.training.experiment import prepare_run
from lfm.training.loop import train_model
from lfm.training.schedule import LambdaSchedule

PRESET = "Specialise (lambda > 0 + balance)"
SORTED_BITS = 1.8  # I(expert; regime) counted as "regimes sorted onto experts"


class FirstSorted:
    """Callback: the first logged step whose I(expert; regime) reached SORTED_BITS."""

    def __init__(self):
        self.step = None

    def on_step_end(self, record: dict) -> None:
        mi = record.get("mi_regime")
        if self.step is None and mi is not None and mi >= SORTED_BITS:
            self.step = record["step"]


def train(cfg: RunConfig) -> dict:
    """One run, no run folder: its final record, when it first sorted the regimes, and its wall time."""
    run = prepare_run(cfg, "unused")
    t, m = cfg.training, cfg.model
    first = FirstSorted()
    start = time.perf_counter()
    result = train_model(run.model, run.data.train_loader(t.batch_size, t.seed), t.num_epochs, t.learning_rate,
                         callbacks=[first], seed=t.seed, log_every=t.log_every,
                         val_data=(run.data.x_val, run.data.y_val), probe=run.data.probe(),
                         regime_names=run.data.regime_names,
                         lambda_schedule=LambdaSchedule(m.lambda_schedule, m.lambda_warmup))
    return {**result.last_record, "first_sorted": first.step, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--schedules", default="constant,warmup,cosine", help="comma-separated schedules")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = RunConfig().with_overrides(load_presets()[PRESET].overrides)
    base = base.with_overrides(dict(item.split("=", 1) for item in args.set))
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{PRESET}, {base.training.num_epochs} epochs, lambda_warmup {base.model.lambda_warmup:g}")
    print("| lambda_schedule | I(expert; regime), mean ± sd | per seed | routing H | load H | val loss | "
          f"first step >= {SORTED_BITS} bits | train time per run |")
    print("|---|---|---|---|---|---|---|---|")
    for schedule in args.schedules.split(","):
        runs = [train(base.with_overrides({"lambda_schedule": schedule, "seed": seed})) for seed in seeds]
        mis = [r["mi_regime"] for r in runs]
        mean = lambda key: statistics.fmean(r[key] for r in runs)  # noqa: E731
        sd = statistics.stdev(mis) if len(mis) > 1 else 0.0
        firsts = ", ".join("never" if r["first_sorted"] is None else f"{r['first_sorted']:,}" for r in runs)
        print(f"| {schedule} | {statistics.fmean(mis):.3f} ± {sd:.3f} | {', '.join(f'{x:.3f}' for x in mis)} | "
              f"{mean('routing_entropy'):.3f} | {mean('load_entropy'):.3f} | {mean('val_loss'):.4f} | {firsts} | "
              f"{mean('seconds'):.0f} s |", flush=True)


if __name__ == "__main__":
    main()
