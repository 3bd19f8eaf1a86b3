"""How the library reports long work without printing: the CLI passes a Progress that draws bars."""

from __future__ import annotations


class Progress:
    """No-op progress sink. ``task`` names a bar; ``total`` may be None when unknown."""

    def start(self, task: str, total: int | None = None, description: str = "") -> None:
        """A new unit of work begins."""

    def advance(self, task: str, steps: int = 1, **info: object) -> None:
        """``steps`` more of ``task`` are done; ``info`` holds figures worth showing (loss...)."""

    def finish(self, task: str) -> None:
        """The work of ``task`` is over (the bar may be removed)."""

    def log(self, message: str) -> None:
        """A one-line message (cached cell, skipped dataset...)."""


NULL_PROGRESS = Progress()
