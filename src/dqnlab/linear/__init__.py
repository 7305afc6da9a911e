"""Linear and tabular Q-functions: feature maps, normalization bounds, and the torsos and head
that make them drop-in Q-functions of the shared agent (`network.q_function = "linear" | "table"`)."""

from dqnlab.linear.bounds import DEFAULT_OBS_BOUNDS, Normalizer, observation_bounds, with_observation_bounds
from dqnlab.linear.features import FourierFeatures, OneHotCells, PolynomialFeatures, RBFFeatures, TileCoding
from dqnlab.linear.qfunctions import LinearQHead, build_linear_torso, build_table_torso

__all__ = [
    "DEFAULT_OBS_BOUNDS",
    "FourierFeatures",
    "LinearQHead",
    "Normalizer",
    "OneHotCells",
    "PolynomialFeatures",
    "RBFFeatures",
    "TileCoding",
    "build_linear_torso",
    "build_table_torso",
    "observation_bounds",
    "with_observation_bounds",
]
