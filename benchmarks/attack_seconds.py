"""Seconds of one attack cell at one torch thread on a published seed-0 checkpoint: what each
column of a suite costs, for the cost of a suite not yet computed (standard v3's, in
benchmarks/README.md).

    python benchmarks/attack_seconds.py [--suite standard-v2] [--only DATASET[/DEFENSE]]
                                        [--attack hag --attack ranking_blackbox ...]

Each zoo model is loaded sha256-checked and attacked as a cell attacks it (the clean record's
queries, eps and top K, tie-aware scoring, the vanilla model of its configuration as transfer
source), one attack after another in this process; prints one markdown row per model and
attack: mAP and seconds. Run one process per dataset, as hash_aa_budget.py is run.
"""

from __future__ import annotations

import argparse
import time

import torch
from hash_aa_budget import attacked, zoo_models

from hashbench.data import load_dataset
from hashbench.harness.evaluate import AttackSetting, Services, attack_metrics
from hashbench.harness.threads import hold_threads
from hashbench.records.io import load_record
from hashbench.registry import attacks
from hashbench.zoo import default_root

ATTACKS = ["hag", "center_pgd", "targeted_pgd", "transfer", "ranking_blackbox"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="standard-v2", help="a zoo suite folder")
    ap.add_argument("--only", default=None, help="a dataset, or DATASET/DEFENSE")
    ap.add_argument("--attack", action="append", default=None, help="an attack at its defaults")
    args = ap.parse_args()
    hold_threads(1)
    root = default_root()
    print("| model | attack | mAP | seconds |\n|---|---|---|---|", flush=True)
    for entry in zoo_models(args.suite, 0, args.only):
        _, dataset, _, defense = entry.name.split("/")
        data = load_dataset(dataset)
        clean = load_record(root.parent / entry.record)
        prov, src = attacked(entry, args.suite, 0, data)
        setting = AttackSetting(data, torch.arange(clean["dataset"]["n_query"]),
                                clean["metrics"]["topk"], f"seconds/{entry.name}", 0,
                                ties="expected")
        for name in args.attack or ATTACKS:
            attack = attacks.create(name, eps=float(clean["metrics"]["eps"]))
            t0 = time.perf_counter()
            m, _, _ = attack_metrics(setting, prov, attack, Services(source=lambda: src))
            print(f"| {dataset}/{defense} | {name} | {float(m['map']):.4f} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
