"""dqnlab: value-based deep reinforcement learning, from the textbook DQN to Rainbow."""

from dqnlab.agent import Agent
from dqnlab.config import Config

__all__ = ["Agent", "Config"]
__version__ = "0.1.0"
