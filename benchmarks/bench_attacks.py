"""Attack-engine overhead: N steps of each attack against N bare forward+backward passes of the
same model on the same batch (what any gradient attack must pay).

    python benchmarks/bench_attacks.py [--batch 128] [--steps 100] [--repeats 3]
    python benchmarks/bench_attacks.py --scaling     # center_pgd cost against the query count

Model: the standard suite's small CNN (DPSH, 32 bits) on embedded MNIST queries, eval mode, CPU.
The best of --repeats runs is kept for each, so a noisy machine biases both sides alike.
"""

from __future__ import annotations

import argparse
import time

import torch

from hashbench.api import AttackContext, Need, QueryBatch
from hashbench.data import load_dataset
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.registry import attacks


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scaling", action="store_true",
                    help="time center_pgd on 125-1000 queries in the runner's batches instead")
    args = ap.parse_args()
    data = load_dataset("mnist")
    model = HashModel(ModelSpec("dpsh", "small_cnn", 32, 1, 10), seed=0).eval()
    x = data.query.images(torch.arange(args.batch))
    with torch.no_grad():
        codes = model.encode(data.train.images(torch.arange(len(data.train))))
        db_codes = model.encode(data.database.images(torch.arange(len(data.database))))

    def bare():
        for _ in range(args.steps):
            xa = x.clone().requires_grad_(True)
            torch.autograd.grad(model(xa).sum(), xa)

    if args.scaling:
        return scaling(model, data, codes, args.steps)
    runs = {"bare": bare}
    for name in ("center_pgd", "hag", "targeted_pgd"):
        attack = attacks.create(name, eps=0.3, steps=args.steps)
        ctx = AttackContext(type(attack).needs, 0, "bench", name, **{
            Need.TRAIN_CODES.value: codes, Need.TRAIN_LABELS.value: data.train.labels,
            Need.DATABASE_CODES.value: db_codes,
            Need.DATABASE_LABELS.value: data.database.labels})
        batch = QueryBatch(index=torch.arange(args.batch),
                           labels=data.query.labels[:args.batch],
                           target_labels=data.target_labels[:args.batch])
        state = attack.prepare(model, ctx)
        runs[name] = (lambda a=attack, c=ctx, b=batch, s=state: a.perturb(model, x, b, s, c))
    # interleaved rounds, best of each: machine noise (10-20% here) hits every entry alike
    best = {name: float("inf") for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            best[name] = min(best[name], best_of(1, fn))
    base = best.pop("bare")
    print(f"batch {args.batch}, {args.steps} steps, {torch.get_num_threads()} threads, best of "
          f"{args.repeats} interleaved rounds; bare forward+backward: {base:.2f} s")
    print("| attack | attack (s) | bare fwd+bwd (s) | overhead |")
    print("|---|---|---|---|")
    for name, t in best.items():
        print(f"| {name} | {t:.2f} | {base:.2f} | {100 * (t / base - 1):+.1f}% |")


def scaling(model, data, codes, steps: int) -> None:
    """Seconds of a center_pgd cell's attack against the number of queries (batches of
    ATTACK_BATCH, as the runner makes them); linear when seconds per query stay flat."""
    from hashbench.harness.evaluate import ATTACK_BATCH

    attack = attacks.create("center_pgd", eps=0.3, steps=steps)
    ctx = AttackContext(type(attack).needs, 0, "bench", "center_pgd", **{
        Need.TRAIN_CODES.value: codes, Need.TRAIN_LABELS.value: data.train.labels})
    pool = torch.cat([data.query.images(torch.arange(500))] * 2)
    labels = torch.cat([data.query.labels] * 2)
    print(f"center_pgd, {steps} steps, batches of {ATTACK_BATCH}, "
          f"{torch.get_num_threads()} threads")
    print("| queries | seconds | ms per query |")
    print("|---|---|---|")
    for n in (125, 250, 500, 1000):
        t = time.perf_counter()
        for start in range(0, n, ATTACK_BATCH):
            idx = torch.arange(start, min(n, start + ATTACK_BATCH))
            attack.perturb(model, pool[idx], QueryBatch(index=idx, labels=labels[idx]), None,
                           ctx)
        sec = time.perf_counter() - t
        print(f"| {n} | {sec:.2f} | {1000 * sec / n:.1f} |")


if __name__ == "__main__":
    main()
