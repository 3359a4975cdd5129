"""The run store's schema: the names its files use and the states a run can be in, defined once.

Every module that writes or reads a run folder takes these names from here (docs/architecture.md, "The run folder").
"""
from enum import Enum

# metrics.csv columns taken verbatim from a step record; load_0..load_{E-1} (from expert_load) follow
METRIC_COLUMNS = ("step", "epoch", "total_steps", "time_s", "samples_per_s", "lambda_entropy",
                  "balance_coef", "loss", "total_loss", "val_loss", "routing_entropy", "load_entropy",
                  "specialisation", "varentropy", "mi_regime")

# what config.json holds besides the RunConfig dict
RUN_LABELS = ("name", "created", "meta")

# the entries of checkpoint.pt
CHECKPOINT_KEYS = ("model_state", "config", "input_features", "step")


class RunState(str, Enum):
    """Where a run stands. A str subclass: the value is what status.json holds, and a state compares
    equal to its string, so files written before this enum read the same."""

    QUEUED = "queued"            # waiting in a job manager's queue (never on disk)
    RUNNING = "running"          # training; status.json says so and its writer is alive
    PAUSED = "paused"            # training paused by a user (the job's view; status.json stays "running")
    FINISHED = "finished"        # every epoch done
    STOPPED = "stopped"          # a user (Stop, Ctrl-C) ended it early; weights saved
    DIVERGED = "diverged"        # the loss became NaN or infinite
    FAILED = "failed"            # an error before or during training; status.json's reason says which
    INTERRUPTED = "interrupted"  # status.json says running, but its writer is gone (kill -9, a crash)
    UNKNOWN = "unknown"          # no status.json (yet)

    def __str__(self) -> str:
        return self.value

    @property
    def is_live(self) -> bool:
        """Still to train or training: a view keeps refreshing it."""
        return self in LIVE_STATES

    @property
    def has_ended(self) -> bool:
        return self in ENDED_STATES


LIVE_STATES = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.PAUSED})
ENDED_STATES = frozenset({RunState.FINISHED, RunState.STOPPED, RunState.DIVERGED, RunState.FAILED,
                          RunState.INTERRUPTED})
WRITTEN_STATES = (RunState.RUNNING, RunState.FINISHED, RunState.STOPPED, RunState.DIVERGED, RunState.FAILED)
