"""The LFModel: a small "liquid" sequence model whose layers adapt to each input sequence.

    x (B, S, F) --input_proj--> h (B, S, D)     [causal conv over 3 steps, only when F != token_dim]
    adapt_input = featurizer(h.mean(dim=1))          (B, A)    one summary vector per sequence
    h = h + TokenMixing(norm(h), a)                            mixes along the sequence axis
    h = h + GELU(ChannelMixing(norm(h), a))                    mixes along the feature axis
    h = h + MixtureOfExperts(norm(h), a)                       gate sees only a; keeps gate_probs, entropy
    y = output_layer(norm(h))                        (B, S, D) --output_head--> (B, S, F)

Where we depart from the seed's code (its documented names and behaviour are kept):
  * residual connections and LayerNorm before each block (pre-norm, as in GPT-2 / MLP-Mixer), so the
    stack starts near the identity and trains stably at any lambda; the seed stacked bare layers;
  * a GELU after channel mixing, so the network is not a product of linear maps;
  * token mixing is causal (output token t blends tokens 0..t): the model predicts the next step at
    every position, and a non-causal mix let position t read its own target (measured: a near-copy
    task with a 9x lower all-position loss than the honest last-step error);
  * an input projection and output head when the data has F != token_dim features (CausalProjection below).

Index legend: B batch, S sequence length, D token_dim (= channel_dim = expert_dim), A adapt_dim, F features.
"""

import torch
from torch import nn

from .layers import ChannelMixing, TokenMixing
from .moe import MixtureOfExperts


class CausalProjection(nn.Module):
    """Input projection F -> D for data with few features: a causal convolution over the last `width`
    steps, so the D channels carry different short-range temporal views of the input (token mixing
    applies one S x S map to every channel; with a plain per-step projection of a 1-feature series all
    channels would be copies of one number). Left padding keeps position t blind to steps after t."""

    def __init__(self, in_features: int, out_features: int, width: int = 3):
        super().__init__()
        self.width = width
        self.conv = nn.Conv1d(in_features, out_features, kernel_size=width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x.transpose(1, 2), (self.width - 1, 0))  # (B, F, S + width - 1)
        return self.conv(x).transpose(1, 2)  # (B, S, D)


class LFModel(nn.Module):
    def __init__(
        self,
        token_dim: int,
        channel_dim: int,
        expert_dim: int,
        adapt_dim: int,
        num_experts: int,
        lambda_entropy: float = 0.01,
        *,
        sequence_length: int,
        input_features: int | None = None,
        balance_coef: float = 0.0,
    ):
        super().__init__()
        if not token_dim == channel_dim == expert_dim:
            # Channel mixing and the experts map the feature axis onto itself, inside residual connections.
            raise ValueError(
                f"channel_dim ({channel_dim}) and expert_dim ({expert_dim}) must equal token_dim ({token_dim})"
            )
        D = token_dim
        self.input_features = input_features or D
        projected = self.input_features != D
        self.input_proj = CausalProjection(self.input_features, D) if projected else nn.Identity()
        self.featurizer = nn.Sequential(nn.Linear(D, adapt_dim), nn.Tanh())  # bounded summary, (B, A)
        self.token_norm = nn.LayerNorm(D)
        self.token_mixing = TokenMixing(sequence_length, adapt_dim)
        self.channel_norm = nn.LayerNorm(D)
        self.channel_mixing = ChannelMixing(channel_dim, adapt_dim)
        self.moe_norm = nn.LayerNorm(D)
        self.moe = MixtureOfExperts(expert_dim, num_experts, adapt_dim, lambda_entropy, balance_coef=balance_coef)
        self.final_norm = nn.LayerNorm(D)
        self.output_layer = nn.Linear(D, D)
        self.output_head = nn.Linear(D, self.input_features) if projected else nn.Identity()

    def featurize(self, x: torch.Tensor) -> torch.Tensor:
        """The per-sequence summary the adaptive layers and the gate see. x (B, S, F) -> (B, A)."""
        return self.featurizer(self.input_proj(x).mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_proj(x)  # (B, S, D)
        a = self.featurizer(h.mean(dim=1))  # (B, A)
        h = h + self.token_mixing(self.token_norm(h), a)
        h = h + nn.functional.gelu(self.channel_mixing(self.channel_norm(h), a))
        h = h + self.moe(self.moe_norm(h), a)
        return self.output_head(self.output_layer(self.final_norm(h)))  # (B, S, F)


def build_model(cfg, input_features: int) -> LFModel:
    """An LFModel for a RunConfig and a data set with `input_features` features per step."""
    m = cfg.model
    return LFModel(
        m.token_dim,
        m.channel_dim,
        m.expert_dim,
        m.adapt_dim,
        m.num_experts,
        m.lambda_entropy,
        sequence_length=cfg.training.sequence_length,
        input_features=input_features,
        balance_coef=m.balance_coef,
    )
