"""Feature maps φ(s) for linear Q-functions: polynomial, Fourier, radial basis and tile coding.

Every map takes the state already normalized to [0, 1]^k (see `dqnlab.linear.bounds.Normalizer`)
and returns a float feature vector of length `size`, so that Q̂(s, a) = θ_a · φ(s) is one
bias-free linear layer on top (Sutton & Barto 2018, §9.5). Shapes: B = batch, K = state
dimensions, F = features, T = tilings.

The enumerations of exponents and frequencies are pure numpy functions, so their order (which
fixes which weight belongs to which feature) can be read and checked by hand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn


def polynomial_exponents(dim: int, degree: int) -> np.ndarray:
    """Exponent vectors [F, K] of every monomial of total degree <= `degree` in `dim` variables.

    Ordered by total degree, then as `itertools.combinations_with_replacement` picks variables:
    for K = 2, degree 2 the monomials are 1, x, y, x², xy, y². F = C(K + d, d).
    """
    rows = []
    for total in range(degree + 1):
        for variables in itertools.combinations_with_replacement(range(dim), total):
            rows.append(np.bincount(np.asarray(variables, dtype=np.int64), minlength=dim))
    return np.stack(rows).astype(np.int64)


def fourier_coefficients(dim: int, order: int) -> np.ndarray:
    """Frequency vectors c [F, K] of the full Fourier basis of order n: every c in {0..n}^K.

    F = (n + 1)^K, in `itertools.product` order: for K = 2, n = 1, c = 00, 01, 10, 11.
    """
    return np.asarray(list(itertools.product(range(order + 1), repeat=dim)), dtype=np.int64).reshape(-1, dim)


def tile_offsets(dim: int, tilings: int) -> np.ndarray:
    """Offsets [T, K] of each tiling, in tile widths, in [0, 1).

    Tiling t is displaced by t·(1, 3, 5, ...)/T tile widths along the K dimensions: the
    asymmetric displacement that Sutton & Barto (2018, §9.5.4) recommend after Miller & Glanz
    (1996), which avoids the diagonal artefacts of uniform (1, 1, ...) offsets.
    """
    steps = np.arange(tilings)[:, None] * (2 * np.arange(dim)[None, :] + 1)
    return (steps % tilings) / tilings


class FeatureMap(nn.Module):
    """A map from normalized states [B, K] to features [B, `size`]; `description` names it in one phrase."""

    size: int
    description: str


class PolynomialFeatures(FeatureMap):
    """φ_i(s) = Π_k s_k^{e_ik}: every monomial of the normalized state up to total degree d.

    The constant monomial (degree 0) comes first, so the bias-free head still has a bias.
    """

    exponents_FK: torch.Tensor

    def __init__(self, dim: int, degree: int) -> None:
        super().__init__()
        self.register_buffer("exponents_FK", torch.as_tensor(polynomial_exponents(dim, degree)).float())
        self.size = int(self.exponents_FK.shape[0])
        self.description = f"polynomial of degree {degree}"

    def forward(self, state_BK: torch.Tensor) -> torch.Tensor:
        return torch.prod(state_BK[:, None, :] ** self.exponents_FK[None], dim=2)


class FourierFeatures(FeatureMap):
    """φ_i(s) = cos(π c_i · s), c_i in {0..n}^K: the Fourier basis of Konidaris et al. (2011), eq. 2.

    With `scale_by_frequency`, φ_i is divided by sqrt(‖c_i‖₂) (φ_0 unchanged). Plain SGD on
    these features moves Q exactly as SGD on the unscaled ones with the per-feature learning rate
    α_i = α/‖c_i‖₂ that Konidaris et al. (§3) recommend: high frequencies learn more slowly. The
    span of the basis, hence the set of representable Q-functions, is the same.
    """

    coefficients_FK: torch.Tensor
    scale_F: torch.Tensor

    def __init__(self, dim: int, order: int, scale_by_frequency: bool = False) -> None:
        super().__init__()
        coefficients_FK = torch.as_tensor(fourier_coefficients(dim, order)).float()
        norms_F = coefficients_FK.norm(dim=1)
        scale_F = torch.where(norms_F > 0, norms_F.clamp(min=1.0).rsqrt(), torch.ones_like(norms_F))
        self.register_buffer("coefficients_FK", coefficients_FK)
        self.register_buffer("scale_F", scale_F if scale_by_frequency else torch.ones_like(norms_F))
        self.size = int(coefficients_FK.shape[0])
        self.description = f"Fourier basis of order {order}" + (" with α/‖c‖ scaling" if scale_by_frequency else "")

    def forward(self, state_BK: torch.Tensor) -> torch.Tensor:
        return torch.cos(math.pi * state_BK @ self.coefficients_FK.T) * self.scale_F


class RBFFeatures(FeatureMap):
    """φ_i(s) = exp(-Σ_k (s_k - μ_ik)² / (2 σ_k²)): Gaussians centred on a grid over [0, 1]^K.

    `centres` per dimension are evenly spaced from 0 to 1 (Sutton & Barto 2018, §9.5.5);
    σ_k defaults to the spacing of the centres along dimension k.
    """

    centres_FK: torch.Tensor
    widths_K: torch.Tensor

    def __init__(self, centres: tuple[int, ...], width: float | None = None) -> None:
        super().__init__()
        axes = [np.linspace(0.0, 1.0, count) for count in centres]
        grid_FK = np.stack([axis.ravel() for axis in np.meshgrid(*axes, indexing="ij")], axis=1)
        widths_K = np.asarray([width if width is not None else 1.0 / (count - 1) for count in centres])
        self.register_buffer("centres_FK", torch.as_tensor(grid_FK).float())
        self.register_buffer("widths_K", torch.as_tensor(widths_K).float())
        self.size = int(grid_FK.shape[0])
        self.description = f"radial basis functions, {'x'.join(map(str, centres))} centres"

    def forward(self, state_BK: torch.Tensor) -> torch.Tensor:
        scaled_BFK = (state_BK[:, None, :] - self.centres_FK[None]) / self.widths_K
        return torch.exp(-0.5 * (scaled_BFK**2).sum(dim=2))


def row_major_strides(sizes: tuple[int, ...]) -> torch.Tensor:
    """Strides [K] that turn a multi-index into its flat row-major index (as numpy's ravel_multi_index)."""
    return torch.as_tensor([math.prod(sizes[k + 1 :]) for k in range(len(sizes))], dtype=torch.int64)


class TileCoding(FeatureMap):
    """Binary features of T offset grid tilings; exactly T of them are 1 for any state.

    Tiling t covers [0, 1]^K with `tiles[k]` tiles per dimension, shifted by `tile_offsets`, so
    it holds tiles[k] + 1 tiles per dimension to cover the shift. F = T · Π_k (tiles[k] + 1).
    With T active features a step of size α moves Q(s, a) by T·α·δ: use α ≈ α₀ / T
    (Sutton & Barto 2018, §9.5.4). Features are dense vectors; fine for the few thousand tiles
    of classic-control tasks.
    """

    tiles_K: torch.Tensor
    offsets_TK: torch.Tensor
    tiling_start_T: torch.Tensor
    strides_K: torch.Tensor

    def __init__(self, tiles: tuple[int, ...], tilings: int) -> None:
        super().__init__()
        dim = len(tiles)
        self.tiles = tiles
        self.grid = tuple(count + 1 for count in tiles)
        self.tiling_size = math.prod(self.grid)
        self.register_buffer("tiles_K", torch.as_tensor(tiles).float())
        self.register_buffer("offsets_TK", torch.as_tensor(tile_offsets(dim, tilings)).float())
        self.register_buffer("tiling_start_T", torch.arange(tilings) * self.tiling_size)
        self.register_buffer("strides_K", row_major_strides(self.grid))
        self.size = tilings * self.tiling_size
        self.description = f"tile coding, {tilings} tilings of {'x'.join(map(str, tiles))} tiles"

    def active_tiles(self, state_BK: torch.Tensor) -> torch.Tensor:
        """Indices [B, T] of the one active feature in each tiling."""
        position_BTK = state_BK[:, None, :] * self.tiles_K + self.offsets_TK[None]
        cell_BTK = torch.minimum(position_BTK.floor().long().clamp(min=0), self.tiles_K.long())
        return (cell_BTK * self.strides_K).sum(dim=2) + self.tiling_start_T

    def forward(self, state_BK: torch.Tensor) -> torch.Tensor:
        active_BT = self.active_tiles(state_BK)
        features_BF = torch.zeros(state_BK.shape[0], self.size, device=state_BK.device)
        return features_BF.scatter_(1, active_BT, 1.0)


class OneHotCells(FeatureMap):
    """The table as features: one indicator per cell of a grid of `bins[k]` bins per dimension.

    Bin j of dimension k holds normalized values in [j/b, (j+1)/b); the last bin also holds 1,
    the upper bound. A linear head on these features is a Q-table: Q(s, a) = θ[a, cell(s)], and
    an SGD step of size α on ½δ² is the tabular update Q(s, a) += α·δ (Watkins 1989).
    """

    bins_K: torch.Tensor
    strides_K: torch.Tensor

    def __init__(self, bins: tuple[int, ...]) -> None:
        super().__init__()
        self.bins = bins
        self.register_buffer("bins_K", torch.as_tensor(bins).float())
        self.register_buffer("strides_K", row_major_strides(bins))
        self.size = math.prod(bins)
        self.description = f"one-hot cells of {'x'.join(map(str, bins))} bins"

    def cells(self, state_BK: torch.Tensor) -> torch.Tensor:
        """Flat cell index [B] of each normalized state."""
        bin_BK = torch.minimum((state_BK * self.bins_K).floor().long().clamp(min=0), self.bins_K.long() - 1)
        return (bin_BK * self.strides_K).sum(dim=1)

    def forward(self, state_BK: torch.Tensor) -> torch.Tensor:
        features_BF = torch.zeros(state_BK.shape[0], self.size, device=state_BK.device)
        return features_BF.scatter_(1, self.cells(state_BK)[:, None], 1.0)


class DiscreteStates(FeatureMap):
    """The table of a Discrete(n) space's states: its one-hot observation (envs.OneHotBox) is already the
    indicator of its state, so the features are the observation and Q(s, a) = θ[a, s] exactly."""

    def __init__(self, states: int) -> None:
        super().__init__()
        self.size = states
        self.description = f"a table of {states} states (one-hot)"

    def forward(self, state_BK: torch.Tensor) -> torch.Tensor:
        assert state_BK.shape[1:] == (self.size,), f"expected one-hot states [B, {self.size}], got {state_BK.shape}"
        return state_BK
