"""Where a suite's wall time went, from its result records alone.

    python benchmarks/suite_breakdown.py [results/standard]

Clean cells hold the training of their model (when it was not cached) and the code computation;
attack cells hold the attack and its scoring; worst-case cells are metrics and I/O only.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from hashbench.records import iter_record_paths, load_record


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/standard")
    parts: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
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
        parts[kind] += cost["wall_seconds"]
        counts[kind] += 1
    total = sum(parts.values())
    print(f"{root}: {sum(counts.values())} cells, {total:.0f} s in cells")
    print("| part | cells | seconds | share |")
    print("|---|---|---|---|")
    for kind, sec in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {counts[kind]} | {sec:.0f} | {100 * sec / total:.0f}% |")


if __name__ == "__main__":
    main()
