"""The run store's schema: the names its files use and the states a run can be in, defined once.

Every module that writes or reads a run folder takes these names from here (docs/architecture.md, "The run folder").
"""
from __future__ import annotations

from enum import Enum
from typing import NamedTuple



class Metric:
    """The metric names of a step record and of metrics.csv's columns, as named constants.

    Plain strings (Metric.LOSS == "loss"), so one indexes a record, a DataFrame or a chart field alike;
    METRICS says what each holds."""
    STEP = "step"
    EPOCH = "epoch"
    TOTAL_STEPS = "total_steps"
    TIME_S = "time_s"
    SAMPLES_PER_S = "samples_per_s"
    LAMBDA_ENTROPY = "lambda_entropy"
    BALANCE_COEF = "balance_coef"
    LOSS = "loss"
    TOTAL_LOSS = "total_loss"
    VAL_LOSS = "val_loss"
    ROUTING_ENTROPY = "routing_entropy"
    LOAD_ENTROPY = "load_entropy"
    SPECIALISATION = "specialisation"
    VARENTROPY = "varentropy"
    MI_REGIME = "mi_regime"


class MetricInfo(NamedTuple):
    label: str        # axis title or heading, with its unit
    description: str  # what the column holds, for help texts and table headers


# Every metric column, in metrics.csv's order; load_0..load_{E-1} (load_column) follow them.
METRICS: dict[str, MetricInfo] = {
    Metric.STEP: MetricInfo("step", "optimiser steps taken"),
    Metric.EPOCH: MetricInfo("epoch", "pass over the training windows, counted from 0"),
    Metric.TOTAL_STEPS: MetricInfo("total steps", "optimiser steps the whole run will take"),
    Metric.TIME_S: MetricInfo("training time (s)", "seconds spent training (pauses and logging left out)"),
    Metric.SAMPLES_PER_S: MetricInfo("samples/s", "training windows per second over the last log interval"),
    Metric.LAMBDA_ENTROPY: MetricInfo("λ", "λ in force (weight of the routing entropy in the loss)"),
    Metric.BALANCE_COEF: MetricInfo("balance", "weight of the load-balance term"),
    Metric.LOSS: MetricInfo("training loss (MSE)",
                            "training loss (MSE, averaged over the last log interval)"),
    Metric.TOTAL_LOSS: MetricInfo("total loss (MSE + λ·H)",
                                  "the loss minimised: MSE + λ · routing entropy + the balance term"),
    Metric.VAL_LOSS: MetricInfo("validation loss",
                                "validation loss: MSE on held-out windows (lower is better)"),
    Metric.ROUTING_ENTROPY: MetricInfo("routing entropy (bits)",
                                       "mean per-sample gate entropy, bits: how undecided each sample's gate is"),
    Metric.LOAD_ENTROPY: MetricInfo("load entropy (bits)",
                                    "entropy of the mean gate, bits: how evenly the experts are used"),
    Metric.SPECIALISATION: MetricInfo("specialisation (bits)",
                                      "load − routing entropy, bits: how much the input decides the expert"),
    Metric.VARENTROPY: MetricInfo("varentropy (bits²)", "mean variance of the gate's surprisal, bits²"),
    Metric.MI_REGIME: MetricInfo("I(expert; regime) (bits)",
                                 "I(expert; regime), bits: how much the regime decides the expert"),
}
METRIC_COLUMNS = tuple(METRICS)
LOSS_METRICS = (Metric.LOSS, Metric.TOTAL_LOSS, Metric.VAL_LOSS)  # MSE and what is added to it
BITS_METRICS = (Metric.ROUTING_ENTROPY, Metric.LOAD_ENTROPY, Metric.SPECIALISATION, Metric.MI_REGIME)


LOAD_PREFIX = "load_"  # the per-expert columns after METRIC_COLUMNS: load_0, load_1, ...


def load_column(expert: int) -> str:
    """metrics.csv's column of one expert's mean gate probability (the record's expert_load[expert])."""
    return f"{LOAD_PREFIX}{expert}"


# what config.json holds besides the RunConfig dict
RUN_LABELS = ("name", "created", "meta")

# the entries of checkpoint.pt
CHECKPOINT_KEYS = ("model_state", "config", "input_features", "step")


class RunState(str, Enum):
    """Where a run stands. A str subclass: the value is what status.json holds, and a state compares
    equal to its string, so files written before this enum read the same."""

    QUEUED = "queued"            # waiting in a job manager's queue (never on disk: see CANCELLED)
    RUNNING = "running"          # training; status.json says so and its writer is alive
    PAUSED = "paused"            # training paused by a user (the job's view; status.json stays "running")
    FINISHED = "finished"        # every epoch done
    STOPPED = "stopped"          # a user (Stop, Ctrl-C) ended it early; weights saved
    DIVERGED = "diverged"        # the loss became NaN or infinite
    FAILED = "failed"            # an error before or during training; status.json's reason says which
    CANCELLED = "cancelled"      # taken off the queue before it started (Stop, shutdown, every tab closed):
                                 # its folder holds config.json and status.json only, nothing trained
    INTERRUPTED = "interrupted"  # status.json says running, but its writer is gone (kill -9, a crash)
    UNKNOWN = "unknown"          # no status.json (yet)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> RunState:
        """The state a status file holds; UNKNOWN for a missing or unrecognised one (a damaged file)."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_live(self) -> bool:
        """Still to train or training: a view keeps refreshing it."""
        return self in LIVE_STATES

    @property
    def has_ended(self) -> bool:
        return self in ENDED_STATES


# status.json's flag, true while a user has paused the run (its "state" stays RUNNING): any process can
# then show the pause (lfm/store/writer.py sets it, the next log step clears it)
PAUSED_FLAG = RunState.PAUSED.value

LIVE_STATES = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.PAUSED})
ENDED_STATES = frozenset({RunState.FINISHED, RunState.STOPPED, RunState.DIVERGED, RunState.FAILED,
                          RunState.CANCELLED, RunState.INTERRUPTED})
WRITTEN_STATES = (RunState.RUNNING, RunState.FINISHED, RunState.STOPPED, RunState.DIVERGED, RunState.FAILED,
                  RunState.CANCELLED)
