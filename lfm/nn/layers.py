"""The LFModel's building blocks: a linear layer whose weight adapts to each sample, and the two mixers.

An AdaptiveLinear layer holds a shared weight W (out, in) and a small hypernetwork `adapt` that turns a
per-sample summary vector a_b (the `adapt_input`) into a weight delta. For every sample b:

    y_b = x_b @ (W + adapt(a_b).view(out, in)).T + bias

This is the documented behaviour of the seed design. Its code built the delta with `.view(out, in)` on a
(B, out*in) tensor, which only works for B = 1; here the delta is a batch of matrices (B, out, in) and the
product is one batched matmul, with no Python loop over samples.

Index legend for the shape comments: B batch, S sequence (tokens), D features (channels), A adapt_dim.
"""

import math

import torch
from torch import nn

# Size of the per-sample delta relative to the shared weight at initialisation. The seed initialised with
# randn (entries of size 1, so a 64-wide layer multiplied activations by ~8 and the first loss was ~3e4).
# We start the shared weight at nn.Linear's 1/sqrt(in) scale and the delta a quarter of that, so the
# network begins close to a plain MLP and learns how much to adapt.
ADAPT_INIT_RATIO = 0.25


class AdaptiveLinear(nn.Module):
    """y_b = x_b @ (weight + adapt(a_b).view(out, in)).T + bias, batched over samples b."""

    def __init__(self, in_features: int, out_features: int, adapt_dim: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.adapt = nn.Linear(adapt_dim, out_features * in_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)  # std = bound / sqrt(3), as nn.Linear
        # Each delta entry is a sum of adapt_dim terms a_k * U_k; with a_k of order 1 its std is
        # sqrt(adapt_dim) * std(U). Pick std(U) so the delta's std is ADAPT_INIT_RATIO times the weight's.
        adapt_dim = self.adapt.in_features
        delta_std = ADAPT_INIT_RATIO * bound / math.sqrt(3.0)
        nn.init.normal_(self.adapt.weight, std=delta_std / math.sqrt(adapt_dim))
        nn.init.zeros_(self.adapt.bias)

    def delta(self, adapt_input: torch.Tensor) -> torch.Tensor:
        """The per-sample weight deltas, (B, out, in)."""
        B = adapt_input.shape[0]
        return self.adapt(adapt_input).view(B, self.out_features, self.in_features)  # (B, out, in)

    def forward(self, x: torch.Tensor, adapt_input: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, ..., in) -> (B, ..., out). An optional 0/1 mask (out, in) removes connections from both
        the shared weight and every delta (TokenMixing uses it to stay causal)."""
        B = x.shape[0]
        x_flat = x.reshape(B, -1, self.in_features)  # (B, T, in): any middle axes flattened
        weight, delta = self.weight, self.delta(adapt_input)  # (out, in), (B, out, in)
        if mask is not None:
            weight, delta = weight * mask, delta * mask
        shared = nn.functional.linear(x_flat, weight, self.bias)  # (B, T, out)
        # baddbmm computes shared + x_flat @ delta^T for every sample in one kernel: (B,T,in)@(B,in,out)
        y = torch.baddbmm(shared, x_flat, delta.transpose(1, 2))  # (B, T, out)
        return y.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, adapt_dim={self.adapt.in_features}"


class TokenMixing(nn.Module):
    """Mixes information along the sequence axis: each output token is an adaptive blend of tokens.

    `token_dim` is the number of tokens (the sequence length S), as in MLP-Mixer's token-mixing MLP; the
    same S x S mixing matrix (plus the sample's delta) is applied to every feature channel.
    Causal by default: output token t blends only tokens 0..t. The model predicts the next step at every
    position, and without the mask position t could read its own target, token t+1, from the input.
    """

    def __init__(self, token_dim: int, adapt_dim: int, *, causal: bool = True):
        super().__init__()
        self.mix = AdaptiveLinear(token_dim, token_dim, adapt_dim)
        self.causal = causal
        # lower-triangular (out token, in token) mask; a buffer so it moves with the module's device
        self.register_buffer("mask", torch.tril(torch.ones(token_dim, token_dim)) if causal else None, persistent=False)

    def forward(self, x: torch.Tensor, adapt_input: torch.Tensor) -> torch.Tensor:
        # x: (B, S, D). Put tokens last so the linear layer acts on them, then put them back.
        mixed = self.mix(x.transpose(1, 2), adapt_input, mask=self.mask)  # (B, D, S)
        return mixed.transpose(1, 2)  # (B, S, D)


class ChannelMixing(nn.Module):
    """Mixes information along the feature axis, the same adaptive D x D map at every token."""

    def __init__(self, channel_dim: int, adapt_dim: int):
        super().__init__()
        self.mix = AdaptiveLinear(channel_dim, channel_dim, adapt_dim)

    def forward(self, x: torch.Tensor, adapt_input: torch.Tensor) -> torch.Tensor:
        return self.mix(x, adapt_input)  # (B, S, D) -> (B, S, D)
