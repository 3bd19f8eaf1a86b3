"""Every attack of the literature on standard v2's models: the table of the README's
"attacks of the literature" section.

    python benchmarks/literature_attacks.py [--results DIR] [--cache DIR]

Runs (or resumes) ``hashbench run --suite benchmarks/literature_attacks.toml`` into RESULTS
(default ``/tmp/hashbench-literature-attacks``), then prints two Markdown tables from its
records: per dataset and defense, every attack's mAP (t-mAP / mAP for the targeted ones), the
white-box and black-box worst cases; and per attack, its cost (seconds, of which fitting,
forward and backward images, ranked-list queries) summed over the models.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["clean", "hag", "sdha", "center_pgd", "hash_aa", "targeted_pgd", "tha", "prosgan",
         "universal", "universal_targeted", "transfer", "transfer_arch", "ranking_blackbox",
         "worst_case", "blackbox_worst_case"]
DEFENSES = ["vanilla", "atrdh", "cgat", "saat"]


def records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))]


def tables(recs: list[dict]) -> str:
    cells = {}
    cost = defaultdict(lambda: defaultdict(float))
    for r in recs:
        if r["status"] != "ok":
            continue
        attack, m = r["cell"]["attack"], r["metrics"]
        key = (r["dataset"]["name"], r["model"]["defense"]["name"])
        if attack == "clean":
            value = f"{m['clean_map']:.3f}"
        elif "t_map" in m:
            value = f"{m['t_map']:.3f} / {m['map']:.3f}"
        else:
            value = f"{m['map']:.3f}"
        cells[(*key, attack)] = value
        c = r["cost"]
        total = cost[attack]
        total["seconds"] += c["wall_seconds"] - c.get("phases", {}).get("training", 0.0)
        total["fitting"] += c.get("phases", {}).get("fitting", 0.0)
        total["forward"] += c["forward_images"]
        total["backward"] += c["backward_images"]
        total["queries"] = max(total["queries"], c.get("queries_max", 0))
        total["models"] += 1
    datasets = sorted({k[0] for k in cells})
    out = ["| dataset | defense | " + " | ".join(ORDER) + " |",
           "|---|---|" + "---|" * len(ORDER)]
    for ds in datasets:
        for d in DEFENSES:
            out.append(f"| {ds} | {d} | " + " | ".join(cells.get((ds, d, a), "")
                                                     for a in ORDER) + " |")
    out += ["", "| attack | seconds (all models) | of which fitting | forward images | "
            "backward images | most queries for one image |", "|---|---|---|---|---|---|"]
    for a in ORDER[1:-2]:
        t = cost.get(a)
        if t:
            out.append(f"| {a} | {t['seconds']:.0f} | {t['fitting']:.0f} | "
                       f"{int(t['forward']):,} | {int(t['backward']):,} | "
                       f"{int(t['queries']) or ''} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("/tmp/hashbench-literature-attacks"))
    ap.add_argument("--cache", type=Path, default=Path(".hashbench-cache"))
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite",
                    str(HERE / "literature_attacks.toml"), "--results", str(args.results),
                    "--cache", str(args.cache)], check=False)
    print(tables(records(args.results)))


if __name__ == "__main__":
    main()
