"""P networks of one architecture as one stacked flat buffer [P, D], computed together.

`flatten_parameters` (flat.py) puts one network's parameters in one flat tensor; `stack_modules`
does the same for P networks with a leading member axis, and leaves each network's own tensors
as views of its row. Each member network then still works alone (acting, evaluation, saving,
`load_state_dict`), while a population runs all of them at once: `stacked_forward` computes the
layers of a `QNetwork` on [P, B, ...] inputs with batched matrix products, one call per layer for
all members (convolutions, LayerNorm, and the few products whose batched form rounds otherwise:
one call per member, the single run's kernel). Every result is each member's single run's, bit for
bit, which is why each row sits at the memory alignment of a single run's own buffer.

Shapes: P = members, B = batch, F = features in, O = features out, A = actions, K = outputs per action.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dqnlab.linear.qfunctions import FeatureTorso, LinearQHead
from dqnlab.networks.factory import QNetwork
from dqnlab.networks.heads import CategoricalHead, DuelingStreams, LinearStreams, QHead, QuantileHead
from dqnlab.networks.noisy import NoisyLinear, factorized_rows
from dqnlab.networks.torsos import MinAtarTorso, MLPTorso, NatureCNNTorso
from dqnlab.types import NetworkOutput


class Slot(NamedTuple):
    """One named tensor of a member: the next `shape.numel()` columns of a stacked row, after the
    slots before it."""

    name: str
    shape: torch.Size


class Stacked(NamedTuple):
    """The stacked tensors of P networks and the map from names to columns."""

    parameters_PD: torch.Tensor  # a leaf; with gradients, its .grad [P, D] is the members' gradients
    buffers_PE: torch.Tensor  # buffers (noise samples, C51 supports), not learned
    parameter_slots: tuple[Slot, ...]
    buffer_slots: tuple[Slot, ...]


ROW_ALIGNMENT = 64  # bytes: where PyTorch's CPU allocator starts a single run's flat buffer
# Rows padded to that alignment make the stack a strided view, whose gradient autograd still fills in
# place (tested); its note that such a layout "may impair performance" is said once and means nothing here.
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")


def _aligned_width(width: int, like: torch.Tensor) -> int:
    """`width` elements rounded up to a whole number of `ROW_ALIGNMENT`-byte blocks."""
    per_block = ROW_ALIGNMENT // like.element_size()
    return -(-width // per_block) * per_block


def _aligned_rows(members: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """A [members, width] tensor of zeros whose rows each start on a `ROW_ALIGNMENT`-byte boundary,
    as a single run's own flat buffer does: BLAS picks its kernel, and so its rounding, by the
    alignment of its operands too, so a member's weights must sit where its single run's do."""
    stride = _aligned_width(width, like)
    return torch.zeros(members, stride, dtype=like.dtype, device=like.device)[:, :width]


def _select_rows(flat_PD: torch.Tensor, members: list[int]) -> torch.Tensor:
    """Rows `members` of `flat_PD` (gradients flow back), each starting on a `ROW_ALIGNMENT`-byte
    boundary as the stack's rows do: a copy per tensor would move each tensor's alignment."""
    width = flat_PD.shape[1]
    selected = flat_PD.index_select(0, torch.tensor(members, device=flat_PD.device))
    return F.pad(selected, (0, _aligned_width(width, flat_PD) - width))[:, :width]


def _stack(tensors_per_member: list[list[torch.Tensor]], gradients: bool) -> torch.Tensor:
    """Copies each member's tensors into row k of one [P, D] tensor and makes them views of it."""
    first = tensors_per_member[0]
    sizes = tuple(tensor.numel() for tensor in first)
    with torch.no_grad():
        if first:
            rows = [torch.cat([tensor.reshape(-1) for tensor in member]) for member in tensors_per_member]
            stacked = _aligned_rows(len(rows), rows[0].numel(), rows[0])
            stacked.copy_(torch.stack(rows))
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
    return tuple(Slot(name, tensor.shape) for name, tensor in named)


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
        parameters.grad = _aligned_rows(parameters.shape[0], parameters.shape[1], parameters)
    # integer buffers (the cell strides of a tabular Q's features) stay where they are: a float stack
    # would change their dtype, and nothing per member lives in them
    float_buffers = [[b for b in module.buffers() if b.is_floating_point()] for module in modules]
    buffers = _stack(float_buffers, gradients=False)
    named_buffers = [(name, b) for name, b in modules[0].named_buffers() if b.is_floating_point()]
    return Stacked(parameters, buffers, _slots(list(modules[0].named_parameters())), _slots(named_buffers))


class _StackedLinear(torch.autograd.Function):
    """y[p] = x[p] W[p]^T + b[p], with the gradients a single run's `F.linear` computes, in the same
    operand order (dW = g^T x, not (x^T g)^T), so that each member's gradient is its single run's
    bit for bit: a last-bit difference is enough for a prioritized replay's sum tree to pick
    another transition a hundred steps later."""

    @staticmethod
    def forward(ctx: Any, x_PBF: torch.Tensor, weight_POF: torch.Tensor, bias_PO: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x_PBF, weight_POF)
        return torch.baddbmm(bias_PO.unsqueeze(1), x_PBF, weight_POF.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad_PBO: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        x_PBF, weight_POF = ctx.saved_tensors
        # the first layer's input (observations) needs no gradient, and with 4 features its product
        # is a slow kernel: about 180 us of a 10-member CartPole update
        grad_x = torch.bmm(grad_PBO, weight_POF) if ctx.needs_input_grad[0] else None
        return grad_x, torch.bmm(grad_PBO.transpose(1, 2), x_PBF), grad_PBO.sum(1)


def _batched_linear(x_PBF: torch.Tensor, weight_POF: torch.Tensor, bias_PO: torch.Tensor | None) -> torch.Tensor:
    if bias_PO is None:
        return torch.bmm(x_PBF, weight_POF.transpose(1, 2))
    result: torch.Tensor = _StackedLinear.apply(x_PBF, weight_POF, bias_PO)
    return result


def _members_linear(x_PBF: torch.Tensor, weight_POF: torch.Tensor, bias_PO: torch.Tensor | None) -> torch.Tensor:
    """Each member's own `F.linear`: the single run's call, so its bits, forward and backward."""
    biases = [None] * len(x_PBF) if bias_PO is None else bias_PO.unbind(0)
    members = zip(x_PBF.unbind(0), weight_POF.unbind(0), biases, strict=True)
    return torch.stack([F.linear(x, weight, bias) for x, weight, bias in members])


# (members, rows, in, out, bias, backward, input gradient, device) -> does the batched product give
# every member F.linear's bits? Found once per shape by `_batched_is_exact`.
_EXACT_SHAPES: dict[tuple[int, int, int, int, bool, bool, bool, str], bool] = {}
_PROBES = 3  # random draws per shape; a different summation order shows in some output of nearly every draw


def _batched_is_exact(key: tuple[int, int, int, int, bool, bool, bool, str]) -> bool:
    """Whether `_batched_linear` equals `_members_linear` bit for bit on random inputs of these shapes,
    outputs and (with `backward`) the gradients. Which kernel computes a product depends on its
    shape (and on its operands' alignment, which the stack keeps as a single run's): PyTorch computes
    tiny batched products (under 400 multiply-adds per member) with a loop of its own, not the BLAS
    call a single product gets, and a layer with one output reaches BLAS another way. Drawn from a
    generator of its own: the run's random streams are untouched."""
    members, rows, features, outputs, bias, backward, input_gradient, device = key
    generator = torch.Generator().manual_seed(0)

    def draw(*shape: int, gradient: bool = False) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(device).requires_grad_(gradient)

    with torch.enable_grad():
        for _ in range(_PROBES):
            x = draw(members, rows, features, gradient=input_gradient)
            weight = draw(members, outputs, features, gradient=backward)
            bias_PO = draw(members, outputs, gradient=backward) if bias else None
            leaves = [tensor for tensor in (x, weight, bias_PO) if tensor is not None and tensor.requires_grad]
            grad_PBO = draw(members, rows, outputs)
            results = []
            for linear in (_batched_linear, _members_linear):
                output = linear(x, weight, bias_PO)
                gradients = torch.autograd.grad(output, leaves, grad_PBO) if leaves else ()
                results.append((output.detach(), *gradients))
            if not all(torch.equal(a, b) for a, b in zip(*results, strict=True)):
                return False
    return True


def stacked_linear(x_PBF: torch.Tensor, weight_POF: torch.Tensor, bias_PO: torch.Tensor | None) -> torch.Tensor:
    """y[p] = x[p] W[p]^T + b[p] for every member p, as F.linear computes it for p alone, bit for bit:
    one batched product where that gives F.linear's bits for these shapes, else one F.linear per member."""
    members, rows, features = x_PBF.shape
    backward = torch.is_grad_enabled() and (weight_POF.requires_grad or x_PBF.requires_grad)
    key = (
        members,
        rows,
        features,
        weight_POF.shape[1],
        bias_PO is not None,
        backward,
        backward and x_PBF.requires_grad,
        x_PBF.device.type,
    )
    if key not in _EXACT_SHAPES:
        _EXACT_SHAPES[key] = _batched_is_exact(key)
    linear = _batched_linear if _EXACT_SHAPES[key] else _members_linear
    return linear(x_PBF, weight_POF, bias_PO)


def _conv2d(x: torch.Tensor, layer: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Member p's convolution on x[p] [P, B, C, H, W], one call of the single run's kernel per member:
    a grouped convolution of all members rounds differently (and ran slower on CPU for MinAtar's)."""
    return torch.stack(
        [
            F.conv2d(x[p], weight[p], None if bias is None else bias[p], layer.stride, layer.padding)
            for p in range(x.shape[0])
        ]
    )


def _stacked_layer_norm(
    x: torch.Tensor, layer: nn.LayerNorm, weight_PO: torch.Tensor, bias_PO: torch.Tensor
) -> torch.Tensor:
    """Member p's LayerNorm on x[p], one call of the single run's kernel per member: normalizing all
    members at once and applying each scale and shift after it rounds the gradients differently."""
    shape, eps = layer.normalized_shape, layer.eps
    return torch.stack([F.layer_norm(x[p], shape, weight_PO[p], bias_PO[p], eps) for p in range(x.shape[0])])


def _apply(module: nn.Module, prefix: str, tensors: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Member p's `module` (its tensors under `prefix` in `tensors`) on x[p], for every p."""
    kind = type(module)
    if kind is nn.Sequential:
        for name, child in module.named_children():
            x = _apply(child, f"{prefix}{name}.", tensors, x)
        return x
    if kind is nn.Linear:
        return stacked_linear(x, tensors[prefix + "weight"], tensors.get(prefix + "bias"))
    if kind is NoisyLinear:
        assert isinstance(module, NoisyLinear)
        weight_mu, bias_mu = tensors[prefix + "weight_mu"], tensors[prefix + "bias_mu"]
        if not module.training:
            return stacked_linear(x, weight_mu, bias_mu)
        epsilon = tensors[prefix + "epsilon"]  # f(eps_in) then f(eps_out), as NoisyLinear keeps them
        epsilon_in, epsilon_out = epsilon[:, : module.in_features], epsilon[:, module.in_features :]
        if factorized_rows(x[0]):  # as NoisyLinear computes up to FACTORIZED_MAX_ROWS rows
            noise = stacked_linear(
                x * epsilon_in.unsqueeze(1), tensors[prefix + "weight_sigma"], tensors[prefix + "bias_sigma"]
            )
            return stacked_linear(x, weight_mu, bias_mu) + epsilon_out.unsqueeze(1) * noise
        weight_noise = epsilon_out.unsqueeze(2) * epsilon_in.unsqueeze(1)  # torch.outer per member
        weight = weight_mu + tensors[prefix + "weight_sigma"] * weight_noise
        return stacked_linear(x, weight, bias_mu + tensors[prefix + "bias_sigma"] * epsilon_out)
    if kind is nn.LayerNorm:
        assert isinstance(module, nn.LayerNorm)
        return _stacked_layer_norm(x, module, tensors[prefix + "weight"], tensors[prefix + "bias"])
    if kind is nn.ReLU:
        return torch.relu(x)
    if kind is nn.Flatten:
        return x.flatten(2)
    if kind is nn.Identity:
        return x
    if kind is nn.Conv2d:
        assert isinstance(module, nn.Conv2d)
        return _conv2d(x, module, tensors[prefix + "weight"], tensors.get(prefix + "bias"))
    raise NotImplementedError(f"a seed population cannot stack a {kind.__name__} layer yet")


def _streams(streams: nn.Module, prefix: str, tensors: dict[str, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
    """Features [P, B, F] -> K outputs per action [P, B, A, K] (heads.py's streams, per member)."""
    members, batch = features.shape[:2]
    if isinstance(streams, LinearStreams):
        values = _apply(streams.layer, prefix + "layer.", tensors, features)
        return values.view(members, batch, streams.num_actions, streams.outputs)
    if isinstance(streams, DuelingStreams):
        value = _apply(streams.value, prefix + "value.", tensors, features).view(members, batch, 1, streams.outputs)
        advantage = _apply(streams.advantage, prefix + "advantage.", tensors, features)
        advantage = advantage.view(members, batch, streams.num_actions, streams.outputs)
        return value + advantage - advantage.mean(dim=2, keepdim=True)
    raise NotImplementedError(f"a seed population cannot stack {type(streams).__name__} yet")


def _torso(torso: nn.Module, tensors: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
    if isinstance(torso, MLPTorso):
        return _apply(torso.layers, "torso.layers.", tensors, obs.flatten(2).float())
    if isinstance(torso, NatureCNNTorso):
        scaled = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        return _apply(torso.fc, "torso.fc.", tensors, _apply(torso.convs, "torso.convs.", tensors, scaled))
    if isinstance(torso, MinAtarTorso):
        grid_PBCHW = obs.permute(0, 1, 4, 2, 3).float()  # channels last, as the env gives them
        features = torch.relu(_apply(torso.conv, "torso.conv.", tensors, grid_PBCHW)).flatten(2)
        return _apply(torso.fc, "torso.fc.", tensors, features)
    if isinstance(torso, FeatureTorso):  # linear and tabular Q: fixed features, the same for every member
        members, batch = obs.shape[:2]
        return torso(obs.flatten(0, 1)).view(members, batch, -1)
    raise NotImplementedError(f"a seed population cannot stack a {type(torso).__name__} torso yet")


def stacked_forward(network: QNetwork, tensors: dict[str, torch.Tensor], obs: torch.Tensor) -> NetworkOutput:
    """Every member's Q-network output on its observations [P, B, *obs_shape]: `network` (any member)
    gives the architecture, `tensors` each parameter and buffer by name with the members' axis first.
    The outputs have shape [P, B, A] (and [P, B, A, K] for C51 logits and QR quantiles)."""
    features = _torso(network.torso, tensors, obs)
    head = network.head
    if isinstance(head, LinearQHead):
        return NetworkOutput(q_values=stacked_linear(features, tensors["head.linear.weight"], None))
    assert isinstance(head, QHead | CategoricalHead | QuantileHead), f"cannot stack a {type(head).__name__} yet"
    streams = _streams(head.streams, "head.streams.", tensors, features)
    if isinstance(head, QHead):
        return NetworkOutput(q_values=streams.squeeze(3))
    if isinstance(head, CategoricalHead):
        support = tensors["head.support"].unsqueeze(1).unsqueeze(1)  # [P, 1, 1, Z]
        return NetworkOutput(q_values=(streams.softmax(dim=3) * support).sum(dim=3), logits=streams)
    return NetworkOutput(q_values=streams.mean(dim=3), quantiles=streams)  # QuantileHead


def stacked_tensors(stacked: Stacked, members: list[int] | None = None) -> dict[str, torch.Tensor]:
    """Every member's parameters and buffers by name, [P, *shape] views of the stacked buffers; with
    `members`, those members' alone (all of them: the views as they are), gradients flowing back."""
    parameters, buffers = stacked.parameters_PD, stacked.buffers_PE
    if members is not None and len(members) < len(parameters):
        parameters, buffers = _select_rows(parameters, members), _select_rows(buffers, members)
    return {**unstack(parameters, stacked.parameter_slots), **unstack(buffers, stacked.buffer_slots)}


def unstack(flat_PD: torch.Tensor, slots: tuple[Slot, ...]) -> dict[str, torch.Tensor]:
    """The named tensors of all members, [P, *shape] views of the columns of `flat_PD`.

    One split into all the slots, not a slice per slot: in the backward pass a split writes the
    whole gradient once, where each slice fills a zero tensor of all of `flat_PD`'s size and adds
    it in (for ten MinAtar networks, 5 MB twice per parameter tensor per update)."""
    if not slots:
        return {}
    members = flat_PD.shape[0]
    pieces = torch.split(flat_PD, [slot.shape.numel() for slot in slots], dim=1)
    return {slot.name: piece.view(members, *slot.shape) for slot, piece in zip(slots, pieces, strict=True)}
