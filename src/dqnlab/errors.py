"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class DqnlabError(Exception):
    """Base class: bad input or a state the user can fix."""


class ConfigError(DqnlabError):
    """An invalid config value, unknown key or unreadable config file."""


class EnvError(DqnlabError):
    """An unknown env id or an env dqnlab cannot train on."""


class CheckpointError(DqnlabError):
    """A checkpoint that cannot be read, or belongs to another env or network."""
