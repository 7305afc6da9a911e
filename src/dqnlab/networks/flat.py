"""One contiguous buffer for a network's parameters and one for their gradients.

A small Q-network's update is bound by per-tensor overheads, not arithmetic: zeroing the
gradients, the gradient-norm clip and the optimizer step each walk every parameter tensor.
With every parameter a view into one flat tensor, and every gradient a view into another,
each of those becomes one operation on one tensor, whatever the number of layers.
"""

from __future__ import annotations

import torch
from torch import nn


def flatten_parameters(module: nn.Module, gradients: bool) -> torch.Tensor:
    """Moves `module`'s parameters into one flat leaf tensor and returns it.

    Afterwards each parameter's data is a view of the flat tensor. With `gradients`, the flat
    tensor gets a zero `.grad` and each parameter's `.grad` is a view of it, so autograd
    accumulates into the flat gradient and an optimizer given `[flat]` updates the module in
    place. Keep the gradients defined (zero them with `flat.grad.zero_()`, never set them to
    None) or the link is lost. Call after the module has moved to its device: moving it again
    copies the parameters out of the buffer.
    """
    parameters = list(module.parameters())
    with torch.no_grad():
        flat = torch.cat([p.reshape(-1) for p in parameters]).requires_grad_(gradients)
    flat_grad = torch.zeros_like(flat) if gradients else None
    offset = 0
    for parameter in parameters:
        size = parameter.numel()
        parameter.data = flat.data[offset : offset + size].view_as(parameter)
        if flat_grad is not None:
            parameter.grad = flat_grad[offset : offset + size].view_as(parameter)
        offset += size
    flat.grad = flat_grad
    return flat


def clip_coefficient(max_norm: float | torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """min(1, max_norm / (norm + 1e-6)), the factor that brings a gradient of L2 norm `norm` down to
    `max_norm`, computed as PyTorch computes `float / tensor`: a reciprocal, then a product. A
    population's per-member `max_norm` tensor gets the single run's bits this way; a division of
    tensors rounds once where this rounds twice, and the two differ for a max_norm such as 10."""
    return torch.clamp((norm + 1e-6).reciprocal() * max_norm, max=1.0)


def clip_grad_norm_(flat_grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scales the gradient down to an L2 norm of at most `max_norm`, as `nn.utils.clip_grad_norm_`
    does over all parameters together; returns the norm before clipping."""
    total_norm = torch.linalg.vector_norm(flat_grad)
    flat_grad.mul_(clip_coefficient(max_norm, total_norm))
    return total_norm
