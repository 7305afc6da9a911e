"""Pure functions for TD targets and losses."""

from dqnlab.losses.td import q_learning_target, td_loss, transition_discount

__all__ = ["q_learning_target", "td_loss", "transition_discount"]
