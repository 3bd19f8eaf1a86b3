"""hash_aa's budget curve on published checkpoints: the convergence rule that fixes its default.

    python benchmarks/hash_aa_budget.py [--suite standard-v2] [--seed 0] [--only DATASET]
                                        [--budget 100x1 --budget 200x2 ...] [--ties expected]
                                        [--design 1|2] [--set NAME=VALUE ...] [--rows]

Design 1's rule, written before its curve was measured: the smallest (steps, restarts), starting
at (100, 1) and doubling both, at which doubling both once more lowers no seed-0 checkpoint's
`hash_aa` mAP by more than 0.005. Design 2's (standard v3's), written before its curve was
measured: the smallest budget on the same doubling ladder at which the drop at 2x is at most
0.01 on every seed-0 checkpoint, unless standard v3 would then cost more than 90 minutes cold with
`--jobs 2` on the 2-core machine, in which case the largest budget within that cost. Square's
queries follow the steps (3 x steps), as in the suite.

Every zoo model of the suite folder and seed (e.g. ``standard-v2/mnist/dpsh-small_cnn-32b/cgat``)
is loaded sha256-checked, its codes encoded, and attacked with `hash_aa` at each budget over the
clean record's queries, eps and top K, with ties scored as given (the objective and the score
alike), the vanilla model of its configuration as transfer source. Prints one markdown row per
model: mAP at each budget, the drop from each budget to the next, seconds; with ``--rows``, one
row per model and budget with the passes per query (forward and backward images through the
attacked model, over the queries: the transfer source's are not counted) and, for design 2,
how many queries its adaptive stage took. ``--set ADAPT_ABOVE=0.4`` (any of design 2's
constants in attacks/hash_aa.py) measures a variant. One thread per process (two processes on
two cores do more than one process on two threads): run one process per dataset with
``--only``.
"""

from __future__ import annotations

import argparse
import time

import hashbench.attacks.hash_aa as hash_aa_module
import torch

from hashbench.api import Need, SourceModel
from hashbench.data import load_dataset
from hashbench.harness.evaluate import AttackSetting, Services, attack_metrics
from hashbench.harness.provision import Provisioned
from hashbench.harness.threads import hold_threads
from hashbench.kit.training import encode_split
from hashbench.records.io import load_record
from hashbench.registry import attacks
from hashbench.zoo import default_root, entries, load_model

RULE_MARGIN = 0.005


def budgets(specs: list[str]) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in s.split("x")) for s in specs]  # type: ignore[misc]


def loaded(name: str, seed: int, data) -> tuple[torch.nn.Module, dict]:
    model = load_model(name, seed)
    return model, {"train": encode_split(model, data.train),
                   "database": encode_split(model, data.database)}


def zoo_models(suite: str, seed: int, only: str | None) -> list:
    """The zoo entries of ``suite``'s image models at ``seed`` (``only``: a dataset, or
    DATASET/DEFENSE)."""
    return [e for e in entries() if e.name.startswith(suite + "/") and e.seed == seed
            and e.direction is None and (only is None or only in (
                e.name.split("/")[1], "/".join(e.name.split("/")[1::2])))]


def attacked(entry, suite: str, seed: int, data) -> tuple[Provisioned, SourceModel]:
    """``entry``'s model with its codes, and the vanilla model of its configuration as the
    transfer source (itself for vanilla)."""
    _, dataset, model_id, defense = entry.name.split("/")
    model, codes = loaded(entry.name, seed, data)
    vname = f"{suite}/{dataset}/{model_id}/vanilla"
    vmodel, vcodes = (model, codes) if defense == "vanilla" else loaded(vname, seed, data)
    src = SourceModel(vmodel, f"{vname}/seed{seed}", {
        Need.TRAIN_CODES.value: vcodes["train"], Need.TRAIN_LABELS.value: data.train.labels,
        Need.DATABASE_CODES.value: vcodes["database"],
        Need.DATABASE_LABELS.value: data.database.labels})
    return Provisioned(model, entry.cache_key, entry.sha256, {}, codes), src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="standard-v2", help="a zoo suite folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="a dataset, or DATASET/DEFENSE")
    ap.add_argument("--budget", action="append", default=None, help="STEPSxRESTARTS")
    ap.add_argument("--ties", default="expected", choices=["index", "expected"])
    ap.add_argument("--design", type=int, default=1, choices=[1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a design-2 constant of attacks/hash_aa.py, for a variant")
    ap.add_argument("--rows", action="store_true", help="one row per model and budget")
    args = ap.parse_args()
    for item in args.set:
        name, value = item.split("=", 1)
        if not hasattr(hash_aa_module, name):
            raise SystemExit(f"--set {item}: attacks/hash_aa.py has no {name}")
        setattr(hash_aa_module, name, type(getattr(hash_aa_module, name))(float(value)))
    hold_threads(1)
    ladder = budgets(args.budget or ["100x1", "200x2"])
    root = default_root()
    chosen = zoo_models(args.suite, args.seed, args.only)
    if args.rows:
        print("| model | design | budget | mAP | forward / backward per query | seconds | "
              "adaptive queries |\n|---|---|---|---|---|---|---|", flush=True)
    else:
        print("| model | " + " | ".join(f"{s}x{r}" for s, r in ladder) + " | drops | seconds |")
        print("|---" * (len(ladder) + 3) + "|", flush=True)
    for entry in chosen:
        _, dataset, _, defense = entry.name.split("/")
        data = load_dataset(dataset)
        clean = load_record(root.parent / entry.record)
        prov, src = attacked(entry, args.suite, args.seed, data)
        q_idx = torch.arange(clean["dataset"]["n_query"])
        maps, seconds = [], []
        for steps, restarts in ladder:
            attack = attacks.create("hash_aa", eps=float(clean["metrics"]["eps"]), steps=steps,
                                    restarts=restarts, design=args.design)
            t0 = time.perf_counter()
            setting = AttackSetting(data, q_idx, clean["metrics"]["topk"],
                                    f"budget/{entry.name}", args.seed, ties=args.ties)
            m, _, cost = attack_metrics(setting, prov, attack, Services(source=lambda: src))
            seconds.append(time.perf_counter() - t0)
            maps.append(float(m["map"]))
            if args.rows:
                n = len(q_idx)
                print(f"| {dataset}/{defense} | {args.design} | {steps}x{restarts} | "
                      f"{maps[-1]:.4f} | {cost['forward_images'] / n:.0f} / "
                      f"{cost['backward_images'] / n:.0f} | {seconds[-1]:.0f} | "
                      f"{m['ensemble'].get('adaptive_queries', '')} |", flush=True)
        if args.rows:
            continue
        drops = [a - b for a, b in zip(maps, maps[1:])]
        print(f"| {dataset}/{defense} | " + " | ".join(f"{v:.4f}" for v in maps) + " | "
              + " / ".join(f"{d:+.4f}{'' if d <= RULE_MARGIN else ' (over)'}" for d in drops)
              + f" | {' / '.join(f'{s:.0f}' for s in seconds)} |", flush=True)


if __name__ == "__main__":
    main()
