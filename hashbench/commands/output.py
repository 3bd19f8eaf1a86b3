"""How the commands talk: the two consoles (messages on stderr, tables on stdout), the progress
bars (plain timestamped lines off a terminal), and names from records made safe to print."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar

from hashbench.progress import Progress
from hashbench.text import visible

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class RichProgress(Progress):
    """Draws one bar per running task (matrix, training, attack), with its ETA, on a terminal.
    Where stdout is not one (``run ... > log.txt``, CI, a notebook's log) it writes plain lines
    there as well: one per finished cell with the run's progress and ETA, one per other task
    every ``PLAIN_EVERY_S`` seconds ($HASHBENCH_LOG_EVERY), and every message; so does it where
    stderr is no terminal either."""

    PLAIN_EVERY_S = 30.0

    def __init__(self, bar: RichBar):
        self.bar = bar
        self.tasks: dict[str, Any] = {}
        self.every = float(os.environ.get("HASHBENCH_LOG_EVERY", self.PLAIN_EVERY_S))
        self.lines = out if not out.is_terminal else None if bar.console.is_terminal \
            else bar.console
        self.plain = self.lines is not None
        # task -> [description, done, total, last print, start]
        self._plain: dict[str, list] = {}

    def start(self, task, total=None, description=""):
        self.tasks[task] = self.bar.add_task(description or task, total=total, info="")
        if self.plain:
            now = time.monotonic()
            self._plain[task] = [description or task, 0, total, now, now]

    def advance(self, task, steps=1, **info):
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in info.items())
        if task in self.tasks:
            self.bar.update(self.tasks[task], advance=steps, info=extra)
        if task in self._plain:
            state = self._plain[task]
            state[1] += steps
            # a finished cell is always a line; a long task's progress every `every` seconds
            if (task == "matrix" and steps) or time.monotonic() - state[3] >= self.every:
                state[3] = time.monotonic()
                self._line(state, extra)

    def finish(self, task):
        if task in self.tasks:
            self.bar.remove_task(self.tasks.pop(task))
        if task in self._plain:
            state = self._plain.pop(task)
            if task == "matrix":
                self._line(state, "done")

    def _line(self, state, extra: str) -> None:
        desc, done, total, _, start = state
        of = f"/{total}" if total else ""
        eta = ""
        if total and 0 < done < total and extra != "done":
            left = (time.monotonic() - start) / done * (total - done)
            eta = f" eta {_short(left)}"
        assert self.lines is not None
        self.lines.print(f"{time.strftime('%H:%M:%S')} {terminal_safe(desc)}: "
                         f"{done}{of}{eta} {terminal_safe(extra)}".rstrip(), highlight=False)

    def log(self, message):
        self.bar.console.print(f"[yellow]{terminal_safe(str(message))}[/]")
        if self.lines is not None and self.lines is not self.bar.console:
            self.lines.print(terminal_safe(str(message)), highlight=False)


def _short(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 90 else f"{seconds / 60:.0f}m" if seconds < 5400 \
        else f"{seconds / 3600:.1f}h"


def terminal_safe(text: str) -> str:
    """A name from a record as the terminal may show it: control characters (ANSI and OSC escape
    sequences start with one) removed and rich markup escaped, so it prints as plain text."""
    return escape(visible(text))


def progress_bars(hidden: bool = False) -> RichBar:
    return RichBar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"), console=console, transient=False,
                   disable=hidden or not console.is_terminal)




class FiniteFloat(click.FloatRange):
    """A float option in [min, max] that is a number: click's FloatRange lets ``nan`` through
    (every comparison with it is false), and a NaN time limit or tolerance fails later, far
    from the option that caused it."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
