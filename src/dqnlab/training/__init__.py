"""The training loop, evaluation and checkpoints."""
