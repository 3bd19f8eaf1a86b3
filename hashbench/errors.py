"""Exceptions whose message is one line naming the thing at fault and the fix."""

from __future__ import annotations


class HashbenchError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""


class ConfigError(HashbenchError):
    """A suite file, a parameter or a command-line option is invalid."""


class DataError(HashbenchError):
    """A dataset file is missing or malformed."""


class PluginError(HashbenchError):
    """A plugin is unknown, fails to load, clashes with another or breaks its contract."""


class ThreatModelError(HashbenchError):
    """An attack produced an adversarial batch outside the threat model."""


class ResultError(HashbenchError):
    """A result record is malformed or does not validate against its schema."""
