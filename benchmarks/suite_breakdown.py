"""Where a suite's wall time went, from its result records alone.

    python benchmarks/suite_breakdown.py [results/standard-v2]

Two tables: by kind of cell (clean cells hold the training of their model when it was not
cached, attack cells the attack and its scoring, worst-case cells metrics and I/O), and by phase
(``cost.phases``: training, code computation, attacks, metrics, I/O; "other" is the rest of the
cells' wall time: loading data and cached models, building records).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from hashbench.harness.timing import PHASES
from hashbench.records.io import iter_record_paths, load_record


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/standard-v2")
    kinds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    phases: dict[str, float] = defaultdict(float)
    without_phases = 0
    for path in iter_record_paths([root]):
        rec = load_record(path)
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


if __name__ == "__main__":
    main()
