"""Replay memory, composed of storage (ring or frames), a uniform or prioritized sampler and an n-step accumulator.

`build_replay` makes a memory from a `Config`. Each part saves and loads its own state:
`state_dict()` returns a nested dict of numpy arrays and plain scalars (int, float, bool, str),
and `load_state_dict(state)` restores it into a part built from the same config. Checkpoints
write the arrays as .npy files (training/snapshot.py), never pickled.
"""

from dqnlab.replay.build import build_replay, build_sampler
from dqnlab.replay.frames import FrameStorage
from dqnlab.replay.memory import ReplayMemory
from dqnlab.replay.n_step import NStepAccumulator, Transitions
from dqnlab.replay.prioritized import PrioritizedSampler
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.sum_tree import SumTree
from dqnlab.replay.uniform import UniformSampler

__all__ = [
    "FrameStorage",
    "NStepAccumulator",
    "PrioritizedSampler",
    "ReplayMemory",
    "RingStorage",
    "SumTree",
    "Transitions",
    "UniformSampler",
    "build_replay",
    "build_sampler",
]
