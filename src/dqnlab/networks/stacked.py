"""P networks of one architecture as one stacked flat buffer [P, D], for computing them together.

`flatten_parameters` (flat.py) puts one network's parameters in one flat tensor; `stack_modules`
does the same for P networks with a leading member axis, and leaves each network's own tensors
as views of its row. Each member network then still works alone (acting, evaluation, saving,
`load_state_dict`), while a population computes all of them in one call: `stacked_q_values` runs
the first network's code over the stacked tensors with `torch.func.functional_call` under `vmap`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dqnlab.networks.noisy import NoisyLinear


class Slot(NamedTuple):
    """Where one named tensor of a member lives in a stacked row: columns [offset, offset + size)."""

    name: str
    offset: int
    shape: torch.Size


class Stacked(NamedTuple):
    """The stacked tensors of P networks and the map from names to columns."""

    parameters_PD: torch.Tensor  # a leaf; with gradients, its .grad [P, D] is the members' gradients
    buffers_PE: torch.Tensor  # buffers (noise samples, C51 supports), not learned
    parameter_slots: tuple[Slot, ...]
    buffer_slots: tuple[Slot, ...]


def _stack(tensors_per_member: list[list[torch.Tensor]], gradients: bool) -> torch.Tensor:
    """Copies each member's tensors into row k of one [P, D] tensor and makes them views of it."""
    first = tensors_per_member[0]
    sizes = tuple(tensor.numel() for tensor in first)
    with torch.no_grad():
        if first:
            rows = [torch.cat([tensor.reshape(-1) for tensor in member]) for member in tensors_per_member]
            stacked = torch.stack(rows)
        else:
            stacked = torch.zeros(len(tensors_per_member), 0)
    stacked.requires_grad_(gradients)
    for row, member in enumerate(tensors_per_member):
        offset = 0
        for tensor, size in zip(member, sizes, strict=True):
            tensor.data = stacked.data[row, offset : offset + size].view_as(tensor)
            offset += size
    return stacked


def _slots(named: list[tuple[str, torch.Tensor]]) -> tuple[Slot, ...]:
    slots, offset = [], 0
    for name, tensor in named:
        slots.append(Slot(name, offset, tensor.shape))
        offset += tensor.numel()
    return tuple(slots)


def stack_modules(modules: list[nn.Module], gradients: bool) -> Stacked:
    """Moves the parameters and buffers of `modules` (one architecture) into stacked tensors.

    Afterwards member k's parameters and buffers are views of row k, so in-place changes either
    way (an optimizer step on the stack, `reset_noise` or `load_state_dict` on a member) are seen
    by both. The members' own `.grad` are not linked: gradients live in `parameters_PD.grad`.
    Modules hold their tensors on one device; call after moving them there.
    """
    names = [name for name, _ in modules[0].named_parameters()]
    for module in modules[1:]:
        if [name for name, _ in module.named_parameters()] != names:
            raise ValueError("population members must share one network architecture")
    parameters = _stack([list(module.parameters()) for module in modules], gradients)
    if gradients:
        parameters.grad = torch.zeros_like(parameters)
    buffers = _stack([list(module.buffers()) for module in modules], gradients=False)
    return Stacked(
        parameters, buffers, _slots(list(modules[0].named_parameters())), _slots(list(modules[0].named_buffers()))
    )


class _Linear(torch.autograd.Function):
    """y = x W^T + b with the backward of a single run's `F.linear` ([B, F] inputs): dW = g^T x.

    Under vmap, `F.linear`'s own backward computes dW as (x^T g)^T, which rounds differently in
    the last bit for small fan-ins (CartPole's 4 inputs): enough for a prioritized replay's sum
    tree to pick another transition a hundred steps later. With this backward, vmapped into
    batched products of the same operands, every member's gradient is its single run's, bit for bit.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx: Any, grad_BO: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, weight = ctx.saved_tensors
        return grad_BO.mm(weight), grad_BO.t().mm(x), grad_BO.sum(0)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if bias is None or x.dim() != 2:
        return F.linear(x, weight, bias)
    return _Linear.apply(x, weight, bias)


class _StackableLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, self.weight, self.bias)


class _StackableNoisyLinear(NoisyLinear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return _linear(x, self.weight_mu, self.bias_mu)
        weight = self.weight_mu + self.weight_sigma * self.weight_noise()
        return _linear(x, weight, self.bias_mu + self.bias_sigma * self.epsilon_out)


def stackable_copy(module: nn.Module) -> nn.Module:
    """A copy of `module` to run stacked tensors through (`functional_call` replaces its tensors):
    its linear layers differentiate as a single run's do (`_Linear`)."""
    template = copy.deepcopy(module)
    for layer in template.modules():
        if type(layer) is nn.Linear:
            layer.__class__ = _StackableLinear
        elif type(layer) is NoisyLinear:
            layer.__class__ = _StackableNoisyLinear
    return template


def unstack(flat_D: torch.Tensor, slots: tuple[Slot, ...]) -> dict[str, torch.Tensor]:
    """The named tensors of one member's row [D] (views, so gradients flow back to the row)."""
    return {slot.name: flat_D[slot.offset : slot.offset + slot.shape.numel()].view(slot.shape) for slot in slots}


def stacked_q_values(module: nn.Module, stacked: Stacked, obs_PN: torch.Tensor) -> torch.Tensor:
    """Q-values [P, N, A] of every member at once: member k's parameters and buffers on `obs_PN[k]`.
    `module` is any one member's Q-network (its code is used, not its tensors)."""

    def member(parameters_D: torch.Tensor, buffers_E: torch.Tensor, obs_N: torch.Tensor) -> torch.Tensor:
        tensors = {**unstack(parameters_D, stacked.parameter_slots), **unstack(buffers_E, stacked.buffer_slots)}
        return torch.func.functional_call(module, tensors, (obs_N,)).q_values

    return vmap_members(member)(stacked.parameters_PD, stacked.buffers_PE, obs_PN)


def vmap_members(function: Callable[..., Any]) -> Callable[..., Any]:
    """`torch.vmap(function)` over the members' axis; for one member, `function` on its row with the
    axis put back, which runs the very kernels of a single run (a batched matrix product can round
    differently from a plain one in the last bit)."""

    def one_member(*arguments: Any) -> Any:
        rows = torch.utils._pytree.tree_map(lambda tensor: tensor[0], arguments)
        return torch.utils._pytree.tree_map(lambda tensor: tensor.unsqueeze(0), function(*rows))

    def members(*arguments: Any) -> Any:
        first = torch.utils._pytree.tree_leaves(arguments)[0]
        return one_member(*arguments) if first.shape[0] == 1 else torch.vmap(function)(*arguments)

    return members
