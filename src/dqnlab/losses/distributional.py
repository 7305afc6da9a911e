"""C51, the categorical distributional loss (Bellemare et al. 2017), as pure functions of batch tensors.

Shapes: B = batch, A = actions, K = atoms of the distribution being projected, Z = atoms of
the support it is projected onto.
"""

from __future__ import annotations

import torch


def categorical_projection(values_BK: torch.Tensor, probs_BK: torch.Tensor, support_Z: torch.Tensor) -> torch.Tensor:
    """Projects the distribution with atoms `values_BK` and masses `probs_BK` onto `support_Z` [Z].

    Each atom's mass goes to the two support atoms around it, split in proportion to
    closeness; an atom outside [z_1, z_Z] counts as sitting on the nearest end; an atom
    exactly on a support atom gives it all its mass (Bellemare et al. 2017, Algorithm 1). In
    closed form (Rowland et al. 2018, eq. 7):

        (Phi p)_i = sum_j clip(1 - |clip(v_j, z_1, z_Z) - z_i| / dz, 0, 1) p_j

    Computed by scattering each atom's mass onto its lower neighbour l = floor(b) and l + 1,
    b = (v - z_1) / dz its position on the support: O(B*K) work rather than the closed form's
    O(B*K*Z). l is capped at Z - 2, so that b on an atom (b = l) or on z_Z (b = Z - 1) puts its
    whole mass on one atom, without the l == u case that loses mass when both bounds are
    taken as floor and ceil. `support_Z` must be evenly spaced, dz = z_{i+1} - z_i. Returns
    [B, Z], each row summing to its row of `probs_BK`.
    """
    assert values_BK.shape == probs_BK.shape and values_BK.dim() == 2, "values and probs must both be [B, K]"
    assert support_Z.dim() == 1 and support_Z.numel() >= 2, "support must be [Z], Z >= 2"
    batch, atoms = probs_BK.shape[0], support_Z.numel()
    v_min, v_max = support_Z[0], support_Z[-1]
    delta_z = (v_max - v_min) / (atoms - 1)
    position_BK = (values_BK.clamp(v_min, v_max) - v_min) / delta_z  # b in [0, Z - 1]
    lower_BK = position_BK.floor().clamp(max=atoms - 2)
    upper_share_BK = position_BK - lower_BK  # in [0, 1]: the share of l + 1
    offset_B1 = (torch.arange(batch, device=probs_BK.device) * atoms).unsqueeze(1)
    index_BK = (lower_BK.long() + offset_B1).view(-1)
    projected = torch.zeros(batch * atoms, dtype=probs_BK.dtype, device=probs_BK.device)
    projected.index_add_(0, index_BK, (probs_BK * (1.0 - upper_share_BK)).view(-1))
    projected.index_add_(0, index_BK + 1, (probs_BK * upper_share_BK).view(-1))
    return projected.view(batch, atoms)


def categorical_target(
    rewards_B: torch.Tensor,
    discounts_B: torch.Tensor,
    next_probs_BZ: torch.Tensor,
    support_Z: torch.Tensor,
) -> torch.Tensor:
    """The projected target distribution Phi(T z) of the (n-step) Bellman update T z = r + discount * z.

    `next_probs_BZ` is the target net's distribution at (s', a*), a* picked by the target net
    (C51) or by the online net (Double, as in Rainbow). A discount of 0 (termination) puts
    all the mass on r. Returns [B, Z].
    """
    assert rewards_B.shape == discounts_B.shape == next_probs_BZ.shape[:1], "batch shapes differ"
    assert next_probs_BZ.shape[1] == support_Z.numel(), "one probability per support atom"
    values_BZ = rewards_B.unsqueeze(1) + discounts_B.unsqueeze(1) * support_Z.unsqueeze(0)
    return categorical_projection(values_BZ, next_probs_BZ, support_Z)


def categorical_cross_entropy(logits_BZ: torch.Tensor, target_probs_BZ: torch.Tensor) -> torch.Tensor:
    """-sum_i target_i log softmax(logits)_i per sample [B]: the C51 loss (eq. 7 of Bellemare et al.).

    It equals the KL divergence from the target to the prediction up to the target's entropy,
    a constant for the gradient; Rainbow uses it as the transition's priority (Hessel et al. 2018).
    """
    assert logits_BZ.shape == target_probs_BZ.shape, "logits and target shapes differ"
    return -(target_probs_BZ.detach() * logits_BZ.log_softmax(dim=1)).sum(dim=1)
