"""Entropy toolkit for gate probabilities: what the dashboard's charts measure, all in bits.

For gate probabilities p(e|x) over E experts (the definitions every metric and chart of the project uses):
  routing entropy  H_route = mean_x H(p(.|x))        how undecided each sample is (what lambda weights)
  load entropy     H_load  = H(mean_x p(.|x))        how evenly the experts are used overall
  specialisation   I       = H_load - H_route        mutual information between input and expert, >= 0
All three are at most log2(E). With a regime label r per sample, I(expert; regime) is the mutual
information of the joint p(e, r) = mean over samples of regime r of p(e|x), times p(r).
Varentropy Var_{e~p}[-log2 p(e|x)] is the second axis of the entropy/varentropy quadrant (entropix).

The loss the seed documents is primary + lambda * H_route: lambda > 0 rewards confident (sharp) gates,
lambda < 0 rewards spread-out gates. lambda > 0 alone can send every sample to the same expert (low H_route
and low H_load: collapse); the optional load-balance term, (log2 E - H_load) >= 0 with its own coefficient,
is the cure: together they maximise H_load - H_route, the specialisation.
"""

import math
from typing import NamedTuple

import torch

# p * log p is 0 at p = 0; clamping keeps log finite there and its gradient bounded.
_EPS = 1e-12


def compute_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits over the last axis. probs (..., E) -> (...)."""
    return -(probs * torch.log2(probs.clamp_min(_EPS))).sum(dim=-1)


def varentropy(probs: torch.Tensor) -> torch.Tensor:
    """Variance of the surprisal -log2 p(e) under e ~ p, in bits^2. probs (..., E) -> (...)."""
    surprisal = -torch.log2(probs.clamp_min(_EPS))  # (..., E)
    mean = (probs * surprisal).sum(dim=-1, keepdim=True)  # (..., 1) = the entropy
    return (probs * (surprisal - mean) ** 2).sum(dim=-1)


class GateEntropies(NamedTuple):
    routing: torch.Tensor  # H_route, scalar, bits
    load: torch.Tensor  # H_load, scalar, bits
    specialisation: torch.Tensor  # H_load - H_route, scalar, bits


def gate_entropies(gate_probs: torch.Tensor) -> GateEntropies:
    """The three entropies of a batch of gates. gate_probs (B, E)."""
    routing = compute_entropy(gate_probs).mean()
    load = compute_entropy(gate_probs.mean(dim=0))
    return GateEntropies(routing, load, load - routing)


def load_balance_loss(gate_probs: torch.Tensor) -> torch.Tensor:
    """log2(E) - H_load: 0 when the batch uses every expert equally, log2(E) when it uses one."""
    E = gate_probs.shape[-1]
    return math.log2(E) - compute_entropy(gate_probs.mean(dim=0))


def regime_matrix(gate_probs: torch.Tensor, labels: torch.Tensor, num_regimes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of gate probabilities per (expert, regime), and the count of samples per regime.

    Returns (sums (E, K), counts (K,)) so that running totals can be accumulated across batches on the
    device; sums / counts is the mean gate probability of expert e over samples of regime k, and the sums
    themselves are the joint p(e, r) up to scale (p(r) * mean_{x in r} p(e|x)), ready for
    mutual_information to give I(expert; regime).
    """
    one_hot = torch.nn.functional.one_hot(labels, num_regimes).to(gate_probs.dtype)  # (B, K)
    return gate_probs.T @ one_hot, one_hot.sum(dim=0)  # (E, K), (K,)


def mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """I(X; Y) in bits of a joint distribution given as a (non-negative, any-scale) matrix (X, Y)."""
    joint = joint / joint.sum()
    return compute_entropy(joint.sum(dim=1)) + compute_entropy(joint.sum(dim=0)) - compute_entropy(joint.flatten())


def entropy_regularization_loss(model, primary_loss: torch.Tensor) -> torch.Tensor:
    """The seed's documented loss: primary + lambda * (mean per-sample gate entropy in bits)."""
    return primary_loss + model.moe.lambda_entropy * model.moe.entropy


class LossParts(NamedTuple):
    total: torch.Tensor  # what the optimiser minimises
    primary: torch.Tensor  # the task loss (MSE), unweighted
    entropy: torch.Tensor  # H_route in bits, unweighted (the loss adds lambda times this)
    balance: torch.Tensor  # log2(E) - H_load in bits, unweighted (the loss adds balance_coef times this)


def regularised_loss(model, primary_loss: torch.Tensor) -> LossParts:
    """The documented loss plus the optional load-balance term; equal to it when balance_coef is 0."""
    moe = model.moe
    balance = load_balance_loss(moe.gate_probs)
    total = entropy_regularization_loss(model, primary_loss)
    if moe.balance_coef:
        total = total + moe.balance_coef * balance
    return LossParts(total, primary_loss, moe.entropy, balance)
