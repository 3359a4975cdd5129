"""A mixture of AdaptiveLinear experts combined by a softmax gate, with the gate's entropy kept for the loss.

Dense gating (the seed's design): every expert runs on every sample and the output is the gate-weighted
sum. The gate looks only at the per-sample summary `adapt_input`, so a sample's routing is decided once
per sequence, not per token. After each forward the module keeps, for the loss and the charts:
  gate_probs (B, E)  the softmax gate of each sample
  entropy   scalar   mean per-sample gate entropy in bits (the routing entropy), differentiable

Index legend: B batch, S sequence, D features, E experts, A adapt_dim.
"""

import torch
from torch import nn

from .entropy import compute_entropy
from .layers import AdaptiveLinear


class MixtureOfExperts(nn.Module):
    def __init__(
        self, expert_dim: int, num_experts: int, adapt_dim: int, lambda_entropy: float = 0.01, *, balance_coef: float = 0.0
    ):
        super().__init__()
        self.experts = nn.ModuleList(AdaptiveLinear(expert_dim, expert_dim, adapt_dim) for _ in range(num_experts))
        self.gating = nn.Linear(adapt_dim, num_experts)
        # Start close to a uniform gate, so no expert is favoured before training says so, but not exactly
        # uniform: there the entropy's gradient is zero and lambda could not act until noise broke the tie.
        nn.init.normal_(self.gating.weight, std=0.1 / adapt_dim**0.5)
        nn.init.zeros_(self.gating.bias)
        self.lambda_entropy = float(lambda_entropy)  # weight of the entropy term; > 0 sharpens, < 0 spreads
        self.balance_coef = float(balance_coef)  # weight of the load-balance term (log2 E - H_load), >= 0
        self.gate_probs: torch.Tensor | None = None
        self.entropy: torch.Tensor | None = None

    @property
    def num_experts(self) -> int:
        return len(self.experts)

    def forward(self, x: torch.Tensor, adapt_input: torch.Tensor) -> torch.Tensor:
        # x: (B, S, D), adapt_input: (B, A)
        gate_logits = self.gating(adapt_input)  # (B, E)
        gate_probs = torch.softmax(gate_logits, dim=-1)  # (B, E)
        expert_outputs = torch.stack([expert(x, adapt_input) for expert in self.experts], dim=-1)  # (B, S, D, E)
        output = (expert_outputs * gate_probs[:, None, None, :]).sum(dim=-1)  # (B, S, D)
        self.gate_probs = gate_probs
        self.entropy = compute_entropy(gate_probs).mean()
        return output
