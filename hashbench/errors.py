"""Exceptions whose message is one line naming the thing at fault and the fix."""

from __future__ import annotations

import difflib
from typing import Iterable


class HashbenchError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""


class ConfigError(HashbenchError):
    """A suite file, a parameter or a command-line option is invalid."""


class DataError(HashbenchError):
    """A dataset file is missing or malformed."""


class DataMissing(DataError):
    """A dataset's files are absent (not placed yet): its cells are skipped with a message,
    while files that are present but malformed stop the run."""


class PluginError(HashbenchError):
    """A plugin is unknown, fails to load, clashes with another or breaks its contract."""


class HandedInModelError(PluginError):
    """A model handed in whole (``hashbench.benchmark``) broke its contract: before it is run
    (meta tensors, non-finite outputs), or inside an attack (its guard found it; the attack
    guards pass it on as it is, so the model is blamed, not the attack that called it)."""


class ThreatModelError(HashbenchError):
    """An attack produced an adversarial batch outside the threat model."""


class ResultError(HashbenchError):
    """A result record is malformed or does not validate against its schema."""


def one_line(err: BaseException, with_type: bool = True, limit: int = 400) -> str:
    """An exception as one line (a plugin's or a library's message may span several),
    ``Type: message`` unless ``with_type`` is false, cut at ``limit`` characters."""
    message = str(err)
    if "Original Traceback" in message:  # re-raised by a DataLoader from its worker process:
        lines = [ln for ln in message.strip().splitlines() if ln.strip()]  # the worker's own
        message = lines[-1].split(": ", 1)[-1]                              # last line
    text = " ".join((f"{type(err).__name__}: {message}" if with_type else message).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def close_matches(name: str, choices: Iterable[str]) -> str:
    """'; did you mean ...? available: ...' for error messages."""
    choices = sorted(choices)
    near = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"{hint} (available: {', '.join(choices) or 'none'})"
