"""The eps curve of a budget sweep (benchmarks/eps_curve.toml) and the v2 budget rule applied.

    python benchmarks/eps_curve.py RESULTS/eps_curve-v1

Prints, per budget, each model's clean mAP and worst-case mAP (per query, the lowest AP over the
suite's attacks, hash_aa included), the random floor, and whether the rule written in
eps_curve.toml holds: the best first-party defense at least 0.15 above the floor, and vanilla at
least half way from its clean mAP down to the floor. The chosen budget is the largest that holds.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from hashbench.records.io import iter_record_paths, load_record

DEFENSES = ("vanilla", "atrdh", "cgat", "saat")
ABOVE_FLOOR = 0.15


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    args = ap.parse_args()
    table: dict[float, dict[str, dict]] = defaultdict(dict)
    for path in iter_record_paths([args.results]):
        rec = load_record(path)
        if rec["status"] != "ok":
            continue
        m, defense = rec["metrics"], rec["model"]["defense"]["name"]
        row = table[float(m["eps"])].setdefault(defense, {})
        row["clean"], row["floor"] = m["clean_map"], m.get("random_map", row.get("floor"))
        if rec["cell"]["attack"] == "worst_case":
            row["worst"] = m["map"]
        elif rec["cell"]["attack"] == "hash_aa":
            row["hash_aa"] = m["map"]
    print("| eps | " + " | ".join(f"{d} clean / worst" for d in DEFENSES)
          + " | floor | best defense - floor | vanilla's fall | rule |")
    print("|---" * (len(DEFENSES) + 5) + "|")
    passing = []
    for eps in sorted(table):
        rows = table[eps]
        if not all("worst" in rows.get(d, {}) for d in DEFENSES):
            print(f"| {eps:g} | (incomplete: {sorted(rows)}) |")
            continue
        floor = rows["vanilla"]["floor"]
        best = max(rows[d]["worst"] for d in DEFENSES[1:])
        van = rows["vanilla"]
        fall = (van["clean"] - van["worst"]) / max(van["clean"] - floor, 1e-12)
        ok = best >= floor + ABOVE_FLOOR and fall >= 0.5
        passing += [eps] if ok else []
        cells = " | ".join(f"{rows[d]['clean']:.3f} / {rows[d]['worst']:.3f}" for d in DEFENSES)
        print(f"| {eps:g} | {cells} | {floor:.3f} | {best - floor:+.3f} | {fall:.2f} | "
              f"{'holds' if ok else 'fails'} |")
    print(f"v2 budget by the rule: {max(passing) if passing else 'none (change the data)'}")


if __name__ == "__main__":
    main()
