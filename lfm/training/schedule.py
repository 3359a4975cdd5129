"""The lambda schedule: how the weight of the entropy term moves over training.

The loss weights routing entropy by lambda (lfm/nn/entropy.py). With a schedule, the weight at optimiser
step s of T is

    lambda(s) = lambda_entropy * factor(s / T)

where lambda_entropy is the base weight (the setting, or the latest "λ while training" value: a live
change replaces the base, and the schedule keeps multiplying it) and factor is one of

    constant  1                                                  the seed's behaviour, the default
    warmup    p / w while p < w, then 1                          linear warm-up over the first w of training
    cosine    p / w while p < w, then (1 + cos(pi * q)) / 2      the same warm-up, then a cosine decay to 0,
              with q = (p - w) / (1 - w) the share of the rest    as in SGDR (Loshchilov & Hutter, 2017)

for progress p = s / T (steps already taken over all steps) and w = lambda_warmup, a share of training.
Why a warm-up: while the experts are still alike, a decisive gate only locks in an arbitrary early split;
ramping lambda up lets the prediction loss and the balance term make the experts differ first. Why a
decay: once the regimes are sorted, a smaller weight lets the prediction loss refine the experts.

Pure Python, no torch: the loop (lfm/training/loop.py) sets the model's lambda from it before each step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "warmup", "cosine")  # the choices of the lambda_schedule setting (lfm/config.py)


def lambda_factor(schedule: str, progress: float, warmup: float) -> float:
    """The multiplier of the base lambda at `progress` (0 = first step, 1 = the end of training), given a
    warm-up lasting the share `warmup` of training (0 to 1). See the module docstring for the formulas."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lambda schedule {schedule!r}: allowed one of {', '.join(SCHEDULES)}")
    if schedule == "constant":
        return 1.0
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return progress / warmup  # linear warm-up, 0 at the first step
    if schedule == "warmup" or warmup >= 1.0:
        return 1.0
    rest = (progress - warmup) / (1.0 - warmup)  # share of the decay done, 0 -> 1
    return 0.5 * (1.0 + math.cos(math.pi * rest))


@dataclass(frozen=True)
class LambdaSchedule:
    """A schedule kind and its warm-up share, asked for the factor at an optimiser step."""
    kind: str = "constant"  # one of SCHEDULES
    warmup: float = 0.0     # share of training (0 to 1) over which lambda ramps up from 0

    def factor(self, step: int, total_steps: int) -> float:
        """The factor for the step taken after `step` steps out of `total_steps`."""
        return lambda_factor(self.kind, step / total_steps if total_steps > 0 else 1.0, self.warmup)
