"""What the suites hashbench publishes require of a ranked leaderboard row: per suite name,
version and dataset, the root seeds and, per direction, the attacks of the worst case. The
report ranks only rows that cover them (``hashbench.report.ranking``)."""

from __future__ import annotations

from functools import lru_cache

from hashbench.harness.suites import load_suite, package_suites
from hashbench.records.types import WORST_CASE

# the column prefix a direction's cells have on a board (as the report writes them)
_PREFIX = {None: "", "i2t": "I→T ", "t2i": "T→I "}


@lru_cache(maxsize=1)
def ranking_requirements() -> dict[tuple[str, int, str], tuple[frozenset, dict]]:
    """(suite, version, dataset) -> (seeds, {direction prefix: worst-case attacks}) for every
    package suite."""
    out: dict[tuple[str, int, str], tuple[frozenset, dict]] = {}
    for path in sorted(package_suites().values()):
        suite = load_suite(str(path))
        for cell in suite.cells():
            if cell.attack != WORST_CASE:
                continue
            seeds, attacks = out.setdefault((suite.name, suite.version, cell.dataset),
                                            (frozenset(suite.run_seeds), {}))
            attacks.setdefault(_PREFIX[cell.direction], set()).update(cell.worst_case_of)
    return {k: (s, {p: frozenset(a) for p, a in att.items()}) for k, (s, att) in out.items()}


def requirement_for(suite: str, version: int, dataset: str):
    """The published requirement of one board, or None for a suite hashbench does not ship."""
    return ranking_requirements().get((suite, version, dataset))


def unranked(suite, cells: list, defenses) -> list[str]:
    """Why the rows of ``defenses`` that ``cells`` (a filtered run of ``suite``, its seeds and
    additions included) compute will be provisional on the board: seeds or worst-case attacks
    of the suite this run leaves out. Said before the run starts."""
    out = []
    for name in defenses:
        full = [c for c in suite.cells() if c.defense == name and c.attack == WORST_CASE]
        chosen = [c for c in cells if c.defense == name]
        seeds = {c.seed for c in chosen}
        lacks = []
        if seeds and len(seeds) < len(suite.run_seeds):
            lacks.append(f"{len(seeds)} of the suite's {len(suite.run_seeds)} seeds")
        attacks = {c.attack for c in chosen}
        needed = {a for c in full for a in c.worst_case_of}
        if WORST_CASE not in attacks:
            lacks.append("no worst case")
        elif needed - attacks:
            lacks.append(f"without {', '.join(sorted(needed - attacks))}")
        if lacks:
            out.append(f"{name}: this run covers {'; '.join(lacks)}; its row is a provisional "
                       "entry (unranked) until the results hold the rest")
    return out
