"""Attack the checkpoints of a finished suite run and compare with its recorded worst case.

    python benchmarks/bench_ensemble.py RESULTS CACHE [--attack NAME[:k=v,...]]...

RESULTS is a suite's results folder (e.g. results/standard-v2, or a scratch run's), CACHE the model
cache that run used. Every model (dataset x defense) is loaded by the cache key its clean record
names, so the numbers are for the very checkpoints the records measured. For each model it prints
the recorded per-attack mAPs, the recorded worst case, each attack given here, and the per-query
worst case over the recorded members and the given attacks, with the seconds each attack took.
An attack's params are given as ``name:key=value,key=value`` (values parsed as JSON when they
can be: ``apgd_hash:losses=["clean"],steps=50``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hashbench.data import load_dataset
from hashbench.harness.evaluate import AttackSetting, Services, attack_metrics
from hashbench.harness.provision import Provisioned
from hashbench.harness.store import ModelStore
from hashbench.records.io import load_record, read_sidecar
from hashbench.registry import attacks


def parse_attack(spec: str) -> tuple[str, dict]:
    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, _split(rest)):
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def _split(text: str) -> list[str]:
    """Split on commas outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{" and 1 or (-1 if ch in "]}" else 0)
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur] if cur else out


def models(results: Path):
    """(dataset, model id, defense, folder) of every clean record under ``results``."""
    for clean in sorted(results.glob("*/*/*/clean.json")):
        folder = clean.parent
        yield folder.parts[-3], folder.parts[-2], folder.parts[-1], folder


def vanilla_source(store: ModelStore, folder: Path, device, data) -> "object | None":
    """The vanilla model beside ``folder`` as a transfer source (None when absent)."""
    from hashbench.api import Need, SourceModel

    rec_path = folder.parent / "vanilla" / "clean.json"
    if not rec_path.is_file():
        return None
    key = load_record(rec_path)["model"]["cache_key"]
    model, _ = store.load_model(key, device)
    codes = store.load_codes(key)
    return SourceModel(model, key, {
        Need.TRAIN_CODES.value: codes["train"].to(device),
        Need.TRAIN_LABELS.value: data.train.labels.to(device),
        Need.DATABASE_CODES.value: codes["database"].to(device),
        Need.DATABASE_LABELS.value: data.database.labels.to(device)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("cache", type=Path)
    ap.add_argument("--attack", action="append", default=[])
    ap.add_argument("--only", default=None, help="dataset/defense, e.g. mnist/cgat")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    store, device = ModelStore(args.cache), torch.device("cpu")
    specs = [parse_attack(a) for a in args.attack]
    print("| dataset | defense | recorded worst | " + " | ".join(
        f"{n}{json.dumps(p) if p else ''}" for n, p in specs) + " | new worst | seconds |")
    print("|---" * (5 + len(specs)) + "|")
    for dataset, model_id, defense, folder in models(args.results):
        if args.only and args.only != f"{dataset}/{defense}":
            continue
        data = load_dataset(dataset)
        clean = load_record(folder / "clean.json")
        key = clean["model"]["cache_key"]
        model, sha = store.load_model(key, device)
        codes = {k: v.to(device) for k, v in store.load_codes(key).items()}
        prov = Provisioned(model, key, sha, clean["model"]["defense"], codes)
        wc = load_record(folder / "worst_case.json")
        members = {a: read_sidecar(folder / f"{a}.queries.npz", load_record(folder / f"{a}.json"))["ap"]
                   for a in wc["metrics"]["worst_case_of"]}
        worst = np.min(np.stack(list(members.values())), axis=0)
        cells, seconds = [], []
        src = vanilla_source(store, folder, device, data)
        for name, params in specs:
            attack = attacks.create(name, eps=float(clean["metrics"]["eps"]), **params)
            q_idx = torch.arange(clean["dataset"]["n_query"])
            t0 = time.perf_counter()
            setting = AttackSetting(data, q_idx, clean["metrics"]["topk"],
                                    f"bench/{dataset}/{model_id}/{defense}/{name}", 0)
            m, arrays, _ = attack_metrics(setting, prov, attack,
                                          Services(source=(lambda s=src: s)))
            seconds.append(time.perf_counter() - t0)
            worst = np.minimum(worst, arrays["ap"])
            extra = m.get("ensemble", {})
            note = f" (wb {extra['whitebox_map']:.4f})" if "whitebox_map" in extra else ""
            cells.append(f"{m['map']:.4f}{note}")
        print(f"| {dataset} | {defense} | {wc['metrics']['map']:.4f} | " + " | ".join(cells)
              + f" | {worst.mean():.4f} | {' / '.join(f'{s:.0f}' for s in seconds)} |",
              flush=True)


if __name__ == "__main__":
    main()
