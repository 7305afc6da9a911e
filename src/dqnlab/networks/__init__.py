"""Q-networks: a torso that embeds observations and a head with one output per action."""

from dqnlab.networks.factory import QNetwork, build_q_network

__all__ = ["QNetwork", "build_q_network"]
