"""The figures' cache: which figure was drawn from which inputs (``plots/inputs.json``), a
render's bookkeeping of drawn, kept and copied figures, and the removal of figures no record
asks for any more."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hashbench.records.io import atomic_write_bytes

INPUTS = "inputs.json"


@dataclass
class PlotResult:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unchanged: int = 0  # figures whose files were there, drawn from the same inputs
    folder: Path | None = None  # plots/ (the figures' names in the cache are relative to it)
    old: dict[str, str] = field(default_factory=dict)  # figure -> inputs hash, as found
    kept: dict[str, str] = field(default_factory=dict)  # figure -> inputs hash, this render

    def _name(self, base: Path) -> str:
        return base.relative_to(self.folder).as_posix() if self.folder else base.as_posix()

    # other boards' plots/ folders (the shipped board's) whose figures are copied, not drawn
    # again, where their inputs hash the same: a merged report redraws only its new rows
    others: list[tuple[Path, dict]] = field(default_factory=list)  # (plots/, its inputs)

    def fresh(self, base: Path, key: str) -> bool:
        """Whether ``base``'s PNG and SVG are there, drawn from inputs hashing to ``key``
        (then they count as this render's, unchanged), or can be copied from another board
        that drew them from the same inputs."""
        name = self._name(base)
        if self.old.get(name) == key and _both(base):
            self.kept[name] = key
            self.unchanged += 1
            return True
        for folder, inputs in self.others:
            src = folder / name
            if inputs.get(name) == key and _both(src):
                for ext in (".png", ".svg"):
                    atomic_write_bytes(base.with_suffix(ext), src.with_suffix(ext).read_bytes())
                self.kept[name] = key
                self.unchanged += 1
                return True
        return False

    def drawn(self, base: Path, key: str) -> None:
        self.kept[self._name(base)] = key


def _both(base: Path) -> bool:
    return base.with_suffix(".png").is_file() and base.with_suffix(".svg").is_file()


def _read_inputs(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / INPUTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or damaged: every figure is drawn again
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(data, dict) else {}


def figure_files(result: PlotResult) -> list[str]:
    """The files (relative to ``plots/``) of every figure this render drew or kept, and the
    cache file: what the report's manifest lists as its own (a figure of no record any more is
    removed through it, never a file the report did not write)."""
    return [INPUTS, *(f"{name}{ext}" for name in sorted(result.kept) for ext in (".png", ".svg"))]
