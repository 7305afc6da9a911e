"""TD targets and losses for DQN and Double DQN, as pure functions of batch tensors.

Shapes: B = batch, A = actions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def q_learning_target(
    rewards_B: torch.Tensor,
    discounts_B: torch.Tensor,
    next_q_target_BA: torch.Tensor,
    next_q_online_BA: torch.Tensor | None = None,
) -> torch.Tensor:
    """r + discount * Q_target(s', a*), the regression target of Q(s, a).

    DQN (Mnih et al. 2015): a* = argmax_a' Q_target(s', a').
    Double DQN (van Hasselt et al. 2016, eq. 4): a* = argmax_a' Q_online(s', a'), pass
    `next_q_online_BA`; the target net evaluates the action the online net picks.
    """
    assert rewards_B.shape == discounts_B.shape == next_q_target_BA.shape[:1], "batch shapes differ"
    if next_q_online_BA is None:
        next_value_B = next_q_target_BA.max(dim=1).values
    else:
        assert next_q_online_BA.shape == next_q_target_BA.shape
        best_action_B = next_q_online_BA.argmax(dim=1, keepdim=True)
        next_value_B = next_q_target_BA.gather(1, best_action_B).squeeze(1)
    return rewards_B + discounts_B * next_value_B


def td_loss(
    q_taken_B: torch.Tensor,
    target_B: torch.Tensor,
    kind: str = "huber",
    weights_B: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (optionally importance-weighted) TD loss and the TD errors target - Q(s, a).

    "huber" is quadratic for |error| <= 1 and linear beyond, so the gradient with respect to
    Q is the TD error clipped to [-1, 1]: the error clipping of Mnih et al. (2015). The loss
    value itself is never clamped, which would zero the gradient outside the range.
    """
    per_sample_B, td_error_B = td_loss_per_sample(q_taken_B, target_B, kind, weights_B)
    return per_sample_B.mean(), td_error_B


def td_loss_per_sample(
    q_taken_B: torch.Tensor,
    target_B: torch.Tensor,
    kind: str = "huber",
    weights_B: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`td_loss` before its mean over the batch: the (importance-weighted) loss of each sample [B],
    and the TD errors [B]. A seed population averages it per member."""
    assert q_taken_B.shape == target_B.shape, "q and target shapes differ"
    target_B = target_B.detach()
    if kind == "huber":
        per_sample_B = F.smooth_l1_loss(q_taken_B, target_B, reduction="none", beta=1.0)
    elif kind == "mse":
        per_sample_B = 0.5 * (q_taken_B - target_B) ** 2
    else:
        raise ValueError(f"unknown loss '{kind}'")
    if weights_B is not None:
        assert weights_B.shape == per_sample_B.shape
        per_sample_B = per_sample_B * weights_B
    return per_sample_B, target_B - q_taken_B.detach()
