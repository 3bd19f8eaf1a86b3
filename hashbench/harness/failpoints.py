"""Fault-injection points for the kill tests: ``HASHBENCH_FAILPOINT=<point>[@<n>]`` makes the
process stop itself (SIGSTOP) at the n-th time (default: the first) it reaches ``<point>``, so
that a test can kill it exactly there, instead of guessing a time. Unset (always, outside the
tests) each point is one dictionary lookup.

Points: ``train-step`` (a training step done), ``attack-start`` (an attack about to perturb
its first batch), ``sidecar-written`` (a cell's per-query arrays written, its record not yet).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from hashbench.errors import ConfigError
from hashbench.progress import Progress

ENV = "HASHBENCH_FAILPOINT"
POINTS = ("train-step", "attack-start", "sidecar-written")
_hits: Counter = Counter()


def parse(spec: str) -> tuple[str, int]:
    """``<point>[@<n>]`` as (point, n); anything else is a one-line error naming the variable
    (a misspelt point would otherwise never fire, and a bad count blame a plugin)."""
    name, at, nth = spec.partition("@")
    if name not in POINTS:
        raise ConfigError(f"{ENV}={spec!r}: unknown point {name!r}; points: "
                          f"{', '.join(POINTS)} (optionally @N, the N-th time)")
    if at and not (nth.isdigit() and int(nth) >= 1):
        raise ConfigError(f"{ENV}={spec!r}: @{nth} is not a count; write {name}@N with N >= 1")
    return name, int(nth) if at else 1


def hit(point: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, nth = parse(spec)
    if name != point:
        return
    _hits[point] += 1
    if _hits[point] == nth and hasattr(signal, "SIGSTOP"):
        os.kill(os.getpid(), signal.SIGSTOP)


def enabled() -> bool:
    """Whether a failpoint is set (checked: a malformed one is an error here, before any
    work)."""
    spec = os.environ.get(ENV)
    if spec:
        parse(spec)
    return bool(spec)


class FailpointProgress(Progress):
    """A progress sink that passes everything on and marks the training and attack points
    (training and attacks report their steps through it; the library has no other hook)."""

    def __init__(self, inner: Progress):
        self.inner = inner

    def start(self, task, total=None, description=""):
        if task.startswith("attack:"):
            hit("attack-start")
        self.inner.start(task, total, description)

    def advance(self, task, steps=1, **info):
        self.inner.advance(task, steps, **info)
        if task.startswith("train:"):
            hit("train-step")

    def finish(self, task):
        self.inner.finish(task)

    def log(self, message):
        self.inner.log(message)
