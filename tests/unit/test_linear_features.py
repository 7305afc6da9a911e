"""Feature maps of linear Q and the table's discretization, against values worked out by hand."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqnlab.errors import ConfigError
from dqnlab.linear.bounds import Normalizer, observation_bounds
from dqnlab.linear.features import (
    FourierFeatures,
    OneHotCells,
    PolynomialFeatures,
    RBFFeatures,
    TileCoding,
    fourier_coefficients,
    polynomial_exponents,
    tile_offsets,
)

R = math.sqrt(0.5)  # cos(π/4)


def _state(*values: float) -> torch.Tensor:
    return torch.tensor([values], dtype=torch.float32)


def test_fourier_order_1_on_2d_state():
    """c = 00, 01, 10, 11 at s = (0.25, 0.5): cos 0, cos(π/2), cos(π/4), cos(3π/4)."""
    assert fourier_coefficients(2, 1).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    features = FourierFeatures(dim=2, order=1)(_state(0.25, 0.5))
    torch.testing.assert_close(features, torch.tensor([[1.0, 0.0, R, -R]]), atol=1e-6, rtol=0)
    assert FourierFeatures(dim=4, order=3).size == 4**4


def test_fourier_scaling_divides_by_root_frequency_norm():
    """‖c‖ = 0, 1, 1, √2: scales 1, 1, 1, 2^(-1/4), so SGD on them has rate α/‖c‖ on the raw basis."""
    features = FourierFeatures(dim=2, order=1, scale_by_frequency=True)(_state(0.25, 0.5))
    torch.testing.assert_close(features, torch.tensor([[1.0, 0.0, R, -R * 2**-0.25]]), atol=1e-6, rtol=0)


def test_polynomial_degree_2_on_2d_state():
    """1, x, y, x², xy, y² at (x, y) = (0.5, 0.25)."""
    assert polynomial_exponents(2, 2).tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    features = PolynomialFeatures(dim=2, degree=2)(_state(0.5, 0.25))
    torch.testing.assert_close(features, torch.tensor([[1.0, 0.5, 0.25, 0.25, 0.125, 0.0625]]))
    assert PolynomialFeatures(dim=4, degree=3).size == math.comb(7, 3)


def test_rbf_on_a_grid_of_centres():
    """Centres 0, 0.5, 1 per dimension, σ = 0.5 (their spacing); at s = (0.5, 0) the centre
    (0.5, 0) gives 1 and its neighbours at distance 0.5 give exp(-0.5)."""
    rbf = RBFFeatures(centres=(3, 3))
    assert rbf.size == 9
    features = rbf(_state(0.5, 0.0))[0]
    grid = features.reshape(3, 3)  # [x centre, y centre]
    assert grid[1, 0].item() == pytest.approx(1.0)
    assert grid[0, 0].item() == pytest.approx(math.exp(-0.5))
    assert grid[1, 1].item() == pytest.approx(math.exp(-0.5))
    assert grid[2, 2].item() == pytest.approx(math.exp(-0.5 * (1 + 4)))


def test_tile_offsets_are_asymmetric():
    """Tiling t is shifted t·(1, 3)/T tile widths, wrapped into [0, 1)."""
    np.testing.assert_allclose(tile_offsets(2, 4), [[0, 0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25]])


def test_tile_coding_activates_one_tile_per_tiling():
    """2 tilings of 2x2 tiles: each tiling is a 3x3 grid, F = 18. Offsets (0, 0) and (0.5, 0.5).

    s = (0.3, 0.8): tiling 0 cell (floor 0.6, floor 1.6) = (0, 1) -> 1;
    tiling 1 cell (floor 1.1, floor 2.1) = (1, 2) -> 5, plus 9 for the second tiling = 14.
    """
    tiles = TileCoding(tiles=(2, 2), tilings=2)
    assert tiles.size == 18
    assert tiles.active_tiles(_state(0.3, 0.8)).tolist() == [[1, 14]]
    features = tiles(_state(0.3, 0.8))
    assert features.sum().item() == 2 and features[0, 1] == 1 and features[0, 14] == 1
    # The upper edge s = 1 stays inside each tiling's grid: cell (2, 2) = 8 in both tilings.
    assert tiles.active_tiles(_state(1.0, 1.0)).tolist() == [[8, 9 + 8]]


def test_normalizer_maps_bounds_to_unit_box_and_clips():
    normalize = Normalizer(((-1.0, 1.0), (0.0, 10.0)))
    out = normalize(torch.tensor([[-1.0, 0.0], [1.0, 10.0], [0.0, 2.5], [-3.0, 99.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25], [0.0, 1.0]]))


def test_table_cells_at_edges_and_outside_bounds():
    """4 bins over [-1, 1] and 2 bins over [0, 10]: bins are [lo, hi) and the last holds the bound."""
    normalize = Normalizer(((-1.0, 1.0), (0.0, 10.0)))
    cells = OneHotCells((4, 2))
    obs = torch.tensor(
        [
            [-1.0, 0.0],  # both lower bounds: cell (0, 0) = 0
            [1.0, 10.0],  # both upper bounds: cell (3, 1) = 7
            [0.0, 5.0],  # inner edges belong to the upper bin: (2, 1) = 5
            [-0.5001, 4.999],  # just below the edges: (0, 0) = 0
            [-7.0, 42.0],  # outside: clipped to (0, 1) = 1
            [3.0, -1.0],  # outside: clipped to (3, 0) = 6
        ]
    )
    assert cells.cells(normalize(obs)).tolist() == [0, 7, 5, 0, 1, 6]
    one_hot = cells(normalize(obs))
    assert one_hot.shape == (6, 8) and (one_hot.sum(dim=1) == 1).all()


def test_bounds_from_space_env_default_or_config():
    finite = gym.make("MountainCar-v0").observation_space
    np.testing.assert_allclose(observation_bounds("MountainCar-v0", finite), [[-1.2, 0.6], [-0.07, 0.07]], rtol=1e-6)
    cartpole = gym.make("CartPole-v1").observation_space
    assert observation_bounds("CartPole-v1", cartpole)[1] == (-3.0, 3.0)
    with pytest.raises(ConfigError, match=r"dimensions \[1, 3\] are unbounded"):
        observation_bounds("my-cartpole", cartpole)
    configured = ((-1.0, 1.0),) * 4
    assert observation_bounds("my-cartpole", cartpole, configured) == configured
    with pytest.raises(ConfigError, match="has 2 pairs"):
        observation_bounds("my-cartpole", cartpole, configured[:2])
