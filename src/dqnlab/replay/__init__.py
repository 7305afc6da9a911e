"""Replay memory, composed of an n-step accumulator, storage, and a uniform or prioritized sampler."""

from dqnlab.replay.memory import ReplayMemory
from dqnlab.replay.n_step import NStepAccumulator
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.sum_tree import SumTree
from dqnlab.replay.uniform import UniformSampler

__all__ = ["NStepAccumulator", "PrioritizedSampler", "ReplayMemory", "RingStorage", "SumTree", "UniformSampler"]
