"""Replay memory, composed of storage and a sampler."""

from dqnlab.replay.memory import ReplayMemory
from dqnlab.replay.storage import RingStorage
from dqnlab.replay.uniform import UniformSampler

__all__ = ["ReplayMemory", "RingStorage", "UniformSampler"]
