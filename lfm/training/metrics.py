"""MetricsAccumulator: the training metrics between two log steps, summed where the training runs.

Every step adds its losses and gate probabilities to tensors on the training device; `record` copies them
to the host once per log step and turns them into one metrics record of plain Python numbers. A GPU run
therefore never waits for the host on an ordinary step (the same reason the loop checks for NaN only at
log steps). Entropies are in bits (lfm/nn/entropy.py).
"""

import torch

from lfm.nn.entropy import compute_entropy, mutual_information, regime_matrix, varentropy


class MetricsAccumulator:
    """Running sums on the training device between two log steps; `record` fetches them once."""

    def __init__(self, num_experts: int, num_regimes: int, device: torch.device):
        self.num_experts = num_experts  # E
        self.num_regimes = num_regimes  # K; 0 when the data has no regime labels
        self.device = device
        self.reset()

    def reset(self) -> None:
        """Start a new log interval: zero sums, no steps, no samples."""
        z = lambda *shape: torch.zeros(shape, device=self.device)  # noqa: E731
        self.sums = {
            "loss": z(), "total_loss": z(), "routing_entropy": z(), "varentropy": z(),
            "gate": z(self.num_experts), "regimes": z(self.num_experts, max(self.num_regimes, 1)),
        }  # fmt: skip
        self.steps = 0  # optimiser steps added since the last reset
        self.samples = 0  # samples in those steps

    def add(self, parts, gate_probs: torch.Tensor, labels: torch.Tensor | None) -> None:
        """One step: its LossParts, its gate probabilities (B, E) and its regime labels (B,) if any."""
        s = self.sums
        s["loss"] += parts.primary.detach()
        s["total_loss"] += parts.total.detach()
        g = gate_probs.detach()  # (B, E)
        s["routing_entropy"] += compute_entropy(g).mean()
        s["varentropy"] += varentropy(g).mean()
        s["gate"] += g.sum(dim=0)
        if labels is not None and self.num_regimes:
            s["regimes"] += regime_matrix(g, labels, self.num_regimes)[0]
        self.steps += 1
        self.samples += g.shape[0]

    def record(self) -> dict:
        """Means since the last reset, as plain Python numbers (one device->host copy).

        loss / total_loss: the MSE and the regularised loss; routing_entropy: mean H of a sample's gate;
        load_entropy: H of the mean gate (how evenly experts are used); specialisation: their difference;
        varentropy: variance of the gate's surprisal; expert_load: (E,) mean gate; mi_regime and
        regime_matrix (E, K): I(expert; regime) and mean gate per regime, None without labels."""
        host = {k: v.cpu() for k, v in self.sums.items()}
        n = max(self.steps, 1)
        load = host["gate"] / max(self.samples, 1)  # (E,) mean gate probability per expert
        routing = float(host["routing_entropy"]) / n
        load_entropy = float(compute_entropy(load))
        rec = {
            "loss": float(host["loss"]) / n,
            "total_loss": float(host["total_loss"]) / n,
            "routing_entropy": routing,
            "load_entropy": load_entropy,
            "specialisation": max(load_entropy - routing, 0.0),
            "varentropy": float(host["varentropy"]) / n,
            "expert_load": load.tolist(),
            "mi_regime": None,
            "regime_matrix": None,
        }
        if self.num_regimes and host["regimes"].sum() > 0:
            counts = host["regimes"].sum(dim=0).clamp_min(1e-12)  # (K,) samples seen per regime
            rec["mi_regime"] = float(mutual_information(host["regimes"]))
            rec["regime_matrix"] = (host["regimes"] / counts).tolist()  # (E, K) mean gate per regime
        return rec
