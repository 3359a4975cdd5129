"""Settings of the tiny runs the tests train: an 8-wide model, 64 windows, one epoch, a record every step."""

from lfm.config import RunConfig

TINY_SETTINGS = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_samples": 64,
                 "num_epochs": 1, "batch_size": 16, "log_every": 1}
TINY_CONFIG = RunConfig().with_overrides(TINY_SETTINGS)
