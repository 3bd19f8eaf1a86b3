"""Which rows a board ranks. A row is ranked only when its worst case covers the suite's whole
attack set (the ensemble included) for every one of the suite's seeds; any other row is a
provisional entry, listed apart and unranked, with what it lacks ("hag only; 1 of 3 seeds").
The rule is the same for first-party and third-party rows: a worst case over fewer attacks, or
over a lucky seed, is an upper bound that a full evaluation can only lower, so ranking it beside
full ones would let a partial evaluation outrank an honest one."""

from __future__ import annotations

from dataclasses import dataclass

from hashbench.records.types import HANDED_IN


@dataclass(frozen=True)
class Requirement:
    """What a ranked row of one board must cover: ``seeds``, and per direction column prefix
    ("" for image boards, "I→T " / "T→I " for image-text ones) the attacks its worst case must
    be taken over."""

    seeds: frozenset[int]
    attacks: dict[str, frozenset[str]]


def inferred(rows: list[dict]) -> Requirement:
    """The requirement of a board whose suite hashbench does not publish (a suite file of the
    user's): what its most complete rows cover, i.e. the union of every row's attacks per
    direction and the largest seed set."""
    attacks: dict[str, set[str]] = {}
    seeds: set[int] = set()
    for row in rows:
        for (_, pre), names in row["covered"].items():
            attacks.setdefault(pre, set()).update(names)
        row_seeds = {s for s, _ in row["covered"]}
        if len(row_seeds) > len(seeds):
            seeds = row_seeds
    return Requirement(frozenset(seeds), {k: frozenset(v) for k, v in attacks.items()})




def seed_kind(checkpoints: dict[tuple[int, str], set[str]], defense: str,
              declared: dict[int, object]) -> tuple[str, str]:
    """What a row's interval holds, and why its seeds do not count as seeds ("" when they do).
    A row's seeds are seeds only when each measured a checkpoint of its own (distinct sha256)
    trained under that seed: by the harness, or by its owner, who declares it for a handed-in
    model (``benchmark(..., trained_seed=s)``). One model evaluated under several seeds is
    one model whose interval holds attack draws only: never ranked against rows whose
    intervals hold training variance too."""
    per_seed: dict[int, set[str]] = {}
    for (seed, _), shas in checkpoints.items():
        per_seed.setdefault(seed, set()).update(shas)
    if len(per_seed) < 2:
        return "queries (one seed)", ""
    distinct = len({frozenset(v) for v in per_seed.values()})
    undeclared = defense == HANDED_IN and any(declared.get(s) != s for s in per_seed)
    if distinct < len(per_seed) or undeclared:
        why = (f"{distinct} model{'s' if distinct != 1 else ''} under {len(per_seed)} seeds"
               if distinct < len(per_seed) else
               "seeds not declared as its models' training seeds (benchmark(..., trained_seed))")
        return "attack draws (one model)", f"{why}: its interval holds attack draws only"
    return "seeds (training and attacks)", ""


def shortfall(covered: dict[tuple[int, str], set[str]], need: Requirement) -> str:
    """What a row with worst cases over ``covered`` ((seed, direction prefix) -> attacks) lacks
    against ``need``; "" when it lacks nothing."""
    parts = []
    for pre, required in sorted(need.attacks.items()):
        have = [covered[(s, p)] for s, p in covered if p == pre]
        # the attacks every one of the row's seeds covers: a gap in any seed is a gap
        common = set.intersection(*have) if have else set()
        gap = required - common
        if not have:
            parts.append(f"{pre}no worst case")
        elif gap:
            present = sorted(common & required)
            text = (f"without {', '.join(sorted(gap))}" if len(gap) < len(present)
                    else f"{' + '.join(present) or 'none of the attacks'} only")
            parts.append(f"{pre}{text}")
    seeds = {s for s, _ in covered} & need.seeds
    if need.seeds and seeds != need.seeds:
        parts.append(f"{len(seeds)} of {len(need.seeds)} seeds")
    return "; ".join(parts)
