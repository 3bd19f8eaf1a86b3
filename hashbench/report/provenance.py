"""Who a board says computed a row, decided from evidence the package holds: a record is
hashbench's own (first-party) only when its bytes are a published record's (the index shipped
with the package, ``records.published``); every other record is third-party, whatever it says
about itself. And one record per cell: two records for the same cell anywhere in a report's
inputs are a conflict the report names; a published record is never replaced by another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hashbench.records.types import Record


def cell_identity(rec: Record) -> tuple:
    """What makes two records measure the same cell: the suite and version, the dataset, the
    model, the defense, the seed, the direction, the budget and the attack."""
    c = rec.cell
    return (rec.suite.name, rec.suite.version, rec.dataset.name, rec.model.method,
            rec.model.backbone, rec.model.bits, rec.model.defense.name, rec.seed,
            c.get("direction"), c.get("eps"), rec.record_name)


@dataclass
class Inputs:
    """A report's records after provenance and conflicts: (path, place, record) kept, the ids
    of the kept records that are published, and one line per record left out."""

    records: list[tuple[Path, Path, Record]] = field(default_factory=list)
    published: set[int] = field(default_factory=set)
    left_out: list[str] = field(default_factory=list)


def settle(found: list[tuple[Path, Path, Record, str]], published: frozenset[str]) -> Inputs:
    """``found``: (path, place, record, sha256 of its bytes) from every results folder, in
    the order given. A cell with one record keeps it; with several, the published one if any
    (the others are left out, named), else none of them (a board never depends on which
    folder or path came first)."""
    by_cell: dict[tuple, list[tuple[Path, Path, Record, str]]] = {}
    for item in found:
        by_cell.setdefault(cell_identity(item[2]), []).append(item)
    out = Inputs()
    for items in by_cell.values():
        mine = [i for i in items if i[3] in published]
        if len(items) == 1 or mine:
            keep = (mine or items)[0]
            out.records.append(keep[:3])
            if keep[3] in published:
                out.published.add(id(keep[2]))
            out.left_out += [f"{i[0]}: the same cell as the published {keep[0]}, which the "
                             "board shows" for i in items if i is not keep]
            continue
        paths = ", ".join(str(i[0]) for i in items)
        out.left_out += [f"{i[0]}: conflicts with another record of the same cell ({paths}); "
                         "none is shown: keep one (or pass the folders separately)"
                         for i in items]
    out.records.sort(key=lambda r: str(r[0]))
    return out
