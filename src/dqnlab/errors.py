"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class DqnlabError(Exception):
    """Base class: bad input or a state the user can fix."""


class ConfigError(DqnlabError):
    """An invalid config value, unknown key or unreadable config file."""


class EnvError(DqnlabError):
    """An unknown env id or an env dqnlab cannot train on."""


class CheckpointError(DqnlabError):
    """A checkpoint that cannot be read, or belongs to another env or network."""


class NonFiniteError(DqnlabError):
    """A nan or inf loss or parameter: training stopped rather than go on from broken weights."""


class TrainingInterrupted(DqnlabError):
    """Training stopped on SIGINT or SIGTERM after writing a checkpoint; `exit_code` is 128 + the signal."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[type, tuple[str, int]]:  # crosses process pools intact
        return (type(self), (str(self), self.exit_code))
