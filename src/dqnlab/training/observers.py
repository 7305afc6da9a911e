"""The observer interface: what the training loop tells logging, plotting and checkpointing."""

from __future__ import annotations

from typing import Protocol

from dqnlab.diagnostics.logger import EpisodeRecord, EvalRecord


class Observer(Protocol):
    """Receives training events in order; plugged into `TrainingLoop(observers=[...])`."""

    def on_episode(self, record: EpisodeRecord) -> None: ...

    def on_evaluation(self, record: EvalRecord) -> None: ...

    def on_target_update(self, step: int) -> None: ...

    def close(self) -> None: ...
