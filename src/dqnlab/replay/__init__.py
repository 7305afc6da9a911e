"""Replay memory, composed of an n-step accumulator, storage, and a uniform or prioritized sampler.

Each part saves and loads its own state: `state_dict()` returns a nested dict of numpy arrays and
plain scalars (int, float, bool, str), and `load_state_dict(state)` restores it into a part built
from the same config. Checkpoints write the arrays as .npy files, never pickled.
"""

from dqnlab.replay.memory import ReplayMemory
from dqnlab.replay.n_step import NStepAccumulator
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.sum_tree import SumTree
from dqnlab.replay.uniform import UniformSampler

__all__ = ["NStepAccumulator", "PrioritizedSampler", "ReplayMemory", "RingStorage", "SumTree", "UniformSampler"]
