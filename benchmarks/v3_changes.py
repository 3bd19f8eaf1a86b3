"""What moved standard v2's rows to standard v3's, one change at a time, per row:

    python benchmarks/v3_changes.py [--seeds 0] [--only DATASET] [--v3 results/standard-v3]

1. v2 as published (ties by database order, hash_aa version 1 at (100, 1));
2. the same records' adversarial codes, on the same checkpoints, scored tie-aware (the metric);
3. on the same checkpoints, hash_aa version 2 at standard v3's budget in place of version 1 in
   the per-query worst case, tie-aware (the ensemble; the other members' codes from the v2
   sidecars);
4. standard v3 as computed (its models retrained under one thread per cell and draws scoped by
   the cell: the retraining), at the same seeds.

``--crossmodal results/crossmodal-v3`` prints crossmodal's table instead, per row and direction:
v2, v2 tie-aware, v3 (columns 1, 2 and 4; see crossmodal()).

Columns 2-4 are the worst-case mAP, means over ``--seeds`` (the v2 checkpoints come from the zoo,
sha256-checked). Column 3 runs hash_aa on every checkpoint: about 80-150 s each at one thread;
run one process per dataset with ``--only``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from hash_aa_budget import attacked, zoo_models
from rescore_ties import rescored

from hashbench.data import load_dataset
from hashbench.harness.evaluate import AttackSetting, Services, attack_metrics
from hashbench.harness.suites import load_suite
from hashbench.harness.threads import hold_threads
from hashbench.records.io import iter_record_paths, load_record
from hashbench.registry import attacks
from hashbench.zoo import default_root


def v3_worst_cases(root: Path, seeds: set[int]) -> dict[tuple, float]:
    """{(dataset, method, defense, direction, seed): worst-case mAP} of a v3 folder, keyed as
    rescore_ties.rescored keys its rows (direction "" for an image suite)."""
    out = {}
    for path in iter_record_paths([root]):
        rec = load_record(path)
        cell = rec["cell"]
        if rec["status"] == "ok" and cell["attack"] == "worst_case" and cell["seed"] in seeds:
            out[(cell["dataset"], cell["method"], cell["defense"], cell.get("direction") or "",
                 cell["seed"])] = rec["metrics"]["map"]
    return out


def crossmodal(v3: Path, seeds: set[int]) -> None:
    """Crossmodal's table: per v2 row and direction, v2 as published, tie-aware on the same
    checkpoints and codes, and v3 (its rule's eps and text budget, retrained), means over
    ``seeds``. Nothing is attacked again: v3 changes the budgets, so an ensemble column on v2's
    checkpoints would measure another threat model."""
    v2 = rescored(Path("results/crossmodal-v2"), seeds)
    got = v3_worst_cases(v3, seeds)
    cols: dict[tuple, list] = {}
    for key, row in sorted(v2.items()):
        _, method, defense, direction, _ = key
        cols.setdefault((method, defense, direction), []).append(
            (*row["worst case"], got.get(key, float("nan"))))
    print("| method | defense | direction | v2 | v2 tie-aware | v3 |\n|---|---|---|---|---|---|")
    for (method, defense, direction), rows in cols.items():
        means = np.mean(np.array(rows), axis=0)
        print(f"| {method} | {defense} | {direction} | " + " | ".join(f"{v:.4f}" for v in means)
              + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0", help="comma-separated root seeds")
    ap.add_argument("--only", default=None, help="a dataset")
    ap.add_argument("--v3", default="results/standard-v3", type=Path)
    ap.add_argument("--suite", default="standard", help="standard v3's suite (name or file)")
    ap.add_argument("--crossmodal", default=None, type=Path, metavar="V3_RESULTS",
                    help="crossmodal's table instead, against this crossmodal v3 folder")
    args = ap.parse_args()
    hold_threads(1)
    seeds = {int(s) for s in args.seeds.split(",")}
    if args.crossmodal:
        crossmodal(args.crossmodal, seeds)
        return
    suite = load_suite(args.suite)
    if (suite.name, suite.version) != ("standard", 3):
        raise SystemExit(f"--suite {args.suite} is {suite.name} v{suite.version}, not standard v3")
    params = suite.attack_params["hash_aa"]
    v2 = rescored(Path("results/standard-v2"), seeds)
    v3 = v3_worst_cases(args.v3, seeds)
    cols: dict[tuple, list] = {}
    for key, row in sorted(v2.items()):
        dataset, _, defense, _, seed = key
        if args.only and dataset != args.only:
            continue
        data = load_dataset(dataset)
        entry = next(e for e in zoo_models("standard-v2", seed, f"{dataset}/{defense}"))
        clean = load_record(default_root().parent / entry.record)
        prov, src = attacked(entry, "standard-v2", seed, data)
        attack = attacks.create("hash_aa", eps=float(clean["metrics"]["eps"]), **params)
        setting = AttackSetting(data, torch.arange(clean["dataset"]["n_query"]),
                                clean["metrics"]["topk"], f"v3changes/{entry.name}", seed,
                                ties="expected")
        _, arrays, _ = attack_metrics(setting, prov, attack, Services(source=lambda: src))
        others = [row["per query"][a] for a in row["members"] if a != "hash_aa"]
        ensemble = float(np.min([*others, np.asarray(arrays["ap"])], axis=0).mean())
        cols.setdefault((dataset, defense), []).append(
            (row["worst case"][0], row["worst case"][1], ensemble, v3.get(key, float("nan"))))
        print(f"# {dataset}/{defense} seed {seed}: {cols[(dataset, defense)][-1]}",
              file=sys.stderr, flush=True)
    print("| dataset | defense | v2 | v2 tie-aware | + hash_aa v2 | v3 (retrained) |\n"
          "|---|---|---|---|---|---|")
    for (dataset, defense), got in cols.items():
        means = np.mean(np.array(got), axis=0)
        print(f"| {dataset} | {defense} | " + " | ".join(f"{v:.4f}" for v in means) + " |")


if __name__ == "__main__":
    main()
