"""Errors about a run's inputs (a config value, a checkpoint, a folder) that the user fixes on
the command line; ``python -m tasks.<name>`` prints only their message, no traceback."""

from __future__ import annotations


class RunError(Exception):
    """Base class: a problem with the run's inputs, explained in its message."""


class ConfigError(RunError, ValueError):
    """A config value has the wrong type or range, or does not work on this machine."""
