"""Seed populations: many seeds (and scalar hyperparameter variants) of one config trained together
in one process, by the one training loop (training/loop.py) with a lane per member."""

from dqnlab.population.run import parse_seeds, resume_population, train_population

__all__ = ["parse_seeds", "resume_population", "train_population"]
