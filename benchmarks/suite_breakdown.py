"""Where a suite's wall time went, from its result records alone.

    python benchmarks/suite_breakdown.py [results/standard-v2] [--jobs 1 2 16]

Two tables: by kind of cell (clean cells hold the training of their model when it was not
cached, attack cells the attack and its scoring, worst-case cells metrics and I/O), and by phase
(``cost.phases``: training, code computation, attacks, metrics, I/O; "other" is the rest of the
cells' wall time: loading data and cached models, building records).

With ``--jobs``, a third: the wall time ``hashbench run --jobs N`` would take, projected from the
records' own per-cell seconds (meaningful for a ``threads = 1`` suite, whose cells cost the same
however many run side by side, up to memory bandwidth) by replaying the pool's schedule: the
models' trainings level by level (vanilla, then the defenses fine-tuned from it), each level
finished before the next, then every cell on the first free worker (in folder order, close to
the suite's), then the worst cases in the driver.
"""

from __future__ import annotations

import argparse
import heapq
from collections import defaultdict
from pathlib import Path

from hashbench.harness.timing import PHASES
from hashbench.records.io import iter_record_paths, load_record


def makespan(tasks: list[float], workers: int) -> float:
    """Tasks handed, in order, to the first free of ``workers``: when the last one ends."""
    free = [0.0] * workers
    for t in tasks:
        heapq.heappush(free, heapq.heappop(free) + t)
    return max(free)


def projection(records: list[dict], jobs: list[int]) -> None:
    levels: dict[int, list[float]] = defaultdict(list)
    cells, driver = [], 0.0
    for rec in records:
        cost, attack = rec["cost"], rec["cell"]["attack"]
        training = cost.get("phases", {}).get("training", 0.0) if attack == "clean" else 0.0
        if training:
            levels[0 if rec["model"]["defense"]["name"] == "vanilla" else 1].append(training)
        if attack in ("worst_case", "blackbox_worst_case"):
            driver += cost["wall_seconds"]
        else:
            cells.append(cost["wall_seconds"] - training)
    print("\n| --jobs | projected wall | of which training |")
    print("|---|---|---|")
    for n in jobs:
        train = sum(makespan(levels[d], n) for d in sorted(levels))
        total = train + makespan(cells, n) + driver
        print(f"| {n} | {total / 60:.1f} min | {train / 60:.1f} min |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=Path("results/standard-v2"))
    ap.add_argument("--jobs", nargs="*", type=int, default=[])
    args = ap.parse_args()
    root = args.results
    records = []
    kinds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    phases: dict[str, float] = defaultdict(float)
    without_phases = 0
    for path in iter_record_paths([root]):
        rec = load_record(path)
        records.append(rec)
        attack, cost = rec["cell"]["attack"], rec["cost"]
        if attack == "clean":
            kind = ("training + codes (vanilla)" if rec["model"]["defense"]["name"] == "vanilla"
                    else "training + codes (defenses)") if cost["trained_models"] else "codes"
        elif attack == "worst_case":
            kind = "worst case (metrics, I/O)"
        else:
            kind = "attacks (+ scoring)"
        kinds[kind] += cost["wall_seconds"]
        counts[kind] += 1
        if "phases" in cost:
            for name in PHASES:
                phases[name] += cost["phases"].get(name, 0.0)
            phases["other"] += cost["wall_seconds"] - sum(cost["phases"].values())
        else:
            without_phases += 1
    total = sum(kinds.values())
    print(f"{root}: {sum(counts.values())} cells, {total:.0f} s in cells\n")
    print("| cells | count | seconds | share |")
    print("|---|---|---|---|")
    for kind, sec in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {counts[kind]} | {sec:.0f} | {100 * sec / total:.0f}% |")
    if phases:
        print("\n| phase | seconds | share |")
        print("|---|---|---|")
        for name in (*PHASES, "other"):
            print(f"| {name} | {phases[name]:.1f} | {100 * phases[name] / total:.1f}% |")
    if without_phases:
        print(f"\n{without_phases} records predate cost.phases and are left out of the phase table")
    if args.jobs:
        projection(records, args.jobs)


if __name__ == "__main__":
    main()
