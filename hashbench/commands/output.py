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
    """Draws one bar per running task (matrix, training, attack), with its ETA. Where stderr is
    not a terminal (a log file, CI) bars are not drawn; instead a plain line per task every
    ``PLAIN_EVERY_S`` seconds ($HASHBENCH_LOG_EVERY), and one when the run ends, say where the
    work stands."""

    PLAIN_EVERY_S = 30.0

    def __init__(self, bar: RichBar):
        self.bar = bar
        self.tasks: dict[str, Any] = {}
        self.every = float(os.environ.get("HASHBENCH_LOG_EVERY", self.PLAIN_EVERY_S))
        self.plain = not bar.console.is_terminal
        self._plain: dict[str, list] = {}  # task -> [description, done, total, last print]

    def start(self, task, total=None, description=""):
        self.tasks[task] = self.bar.add_task(description or task, total=total, info="")
        if self.plain:
            self._plain[task] = [description or task, 0, total, time.monotonic()]

    def advance(self, task, steps=1, **info):
        if task in self.tasks:
            extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in info.items())
            self.bar.update(self.tasks[task], advance=steps, info=extra)
        if task in self._plain:
            state = self._plain[task]
            state[1] += steps
            if time.monotonic() - state[3] >= self.every:
                state[3] = time.monotonic()
                self._line(state, extra if task in self.tasks else "")

    def finish(self, task):
        if task in self.tasks:
            self.bar.remove_task(self.tasks.pop(task))
        if task in self._plain:
            state = self._plain.pop(task)
            if task == "matrix":
                self._line(state, "done")

    def _line(self, state, extra: str) -> None:
        desc, done, total, _ = state
        of = f"/{total}" if total else ""
        self.bar.console.print(f"{time.strftime('%H:%M:%S')} {terminal_safe(desc)}: "
                               f"{done}{of} {terminal_safe(extra)}", highlight=False)

    def log(self, message):
        self.bar.console.print(f"[yellow]{terminal_safe(str(message))}[/]")




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
