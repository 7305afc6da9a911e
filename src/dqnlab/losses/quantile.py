"""QR-DQN, quantile regression of the return distribution (Dabney et al. 2018), as pure functions.

Shapes: B = batch, N = predicted quantiles, M = target quantiles (samples of the target return).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def quantile_midpoints(count: int, device: torch.device | None = None) -> torch.Tensor:
    """tau_hat_i = (2i + 1) / (2N), i = 0..N-1: the fractions whose quantiles QR-DQN learns (Lemma 2). [N]"""
    return (2 * torch.arange(count, device=device, dtype=torch.float32) + 1) / (2 * count)


def quantile_target(
    rewards_B: torch.Tensor, discounts_B: torch.Tensor, next_quantiles_BM: torch.Tensor
) -> torch.Tensor:
    """T theta_j = r + discount * theta_j(s', a*) for every target quantile j (Algorithm 1). [B, M]"""
    assert rewards_B.shape == discounts_B.shape == next_quantiles_BM.shape[:1], "batch shapes differ"
    return rewards_B.unsqueeze(1) + discounts_B.unsqueeze(1) * next_quantiles_BM


def quantile_huber_loss(quantiles_BN: torch.Tensor, targets_BM: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """The quantile Huber loss per sample [B] (Dabney et al. 2018, eq. 10 and Algorithm 1).

    With u_ij = T theta_j - theta_i, the error of predicted quantile i against target sample j,

        rho_tau(u) = |tau - 1{u < 0}| * L_kappa(u) / kappa,   L_kappa the Huber loss,

    summed over the N predicted quantiles i and averaged over the M target samples j.
    Dividing by kappa follows Dopamine, so that kappa -> 0 recovers the quantile loss
    |tau - 1{u < 0}| |u|; at kappa = 1 (the paper's choice) it changes nothing.
    """
    assert quantiles_BN.dim() == targets_BM.dim() == 2, "quantiles and targets must be [B, N] and [B, M]"
    assert quantiles_BN.shape[0] == targets_BM.shape[0], "batch sizes differ"
    batch, count = quantiles_BN.shape
    shape_BNM = (batch, count, targets_BM.shape[1])
    tau_N1 = quantile_midpoints(count, quantiles_BN.device).unsqueeze(1)
    predicted_BNM = quantiles_BN.unsqueeze(2).expand(shape_BNM)
    targets_BNM = targets_BM.detach().unsqueeze(1).expand(shape_BNM)
    huber_BNM = F.huber_loss(predicted_BNM, targets_BNM, reduction="none", delta=kappa)  # L_kappa(u)
    below_BNM = (targets_BNM < predicted_BNM.detach()).to(huber_BNM.dtype)  # 1{u < 0}
    weighted_BNM = (tau_N1 - below_BNM).abs() * huber_BNM
    return weighted_BNM.mean(dim=2).sum(dim=1) / kappa
