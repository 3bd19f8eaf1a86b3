"""The effect of scoring ties by their expectation, apart from everything else: every record of a
published suite rescored on the same checkpoints and the same adversarial query codes.

    python benchmarks/rescore_ties.py [results/standard-v2 | results/crossmodal-v2]

Per record, the query codes come from its sidecar (clean and every attack store them) and the
database codes from its checkpoint in the model zoo (sha256-checked): for an image-text record,
the codes of the side its direction retrieves (text for I->T, images for T->I); the tie-aware mAP is
``hashbench.metrics.ties``'s, the worst case its per-query minimum over the record's members.
Prints, per row (mean over seeds), the published index-order value and the tie-aware one, and
what a collapsed model (all codes equal) scores under each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hashbench import cpu_kernels

cpu_kernels.pin()

import torch  # noqa: E402 - after the kernel pinning

from hashbench.data import load_dataset  # noqa: E402
from hashbench.harness.tracks import TRACKS  # noqa: E402
from hashbench.metrics import average_precision  # noqa: E402
from hashbench.metrics.ties import expected_average_precision, random_floor  # noqa: E402
from hashbench.records.io import iter_record_paths, load_record, read_sidecar  # noqa: E402
from hashbench.zoo import load_model  # noqa: E402


def _database_codes(name: str, seed: int, data, direction: str) -> np.ndarray:
    """The zoo model's codes of the database that ``direction`` retrieves: an image model's
    (direction ""), or an image-text model's texts (I->T) or images (T->I)."""
    net = load_model(name, seed=seed)
    if not direction:
        return TRACKS["image"].codes(net, data)["database"].numpy()
    side = "text" if direction == "i2t" else "image"
    return TRACKS["image-text"].codes(net, data)[f"database_{side}"].numpy()


def rescored(root: Path, seeds: set[int] | None = None) -> dict[tuple, dict]:
    """{(dataset, method, defense, direction, seed): {column: (published value, tie-aware
    value)}} for every record of the suite folder ``root`` (``seeds``: only those root seeds;
    direction "" for an image suite), and under "per query" each attack's tie-aware per-query
    AP."""
    rows: dict[tuple, dict] = {}
    db_codes: dict[tuple, np.ndarray] = {}
    for path in iter_record_paths([root]):
        rec = load_record(path)
        cell = rec["cell"]
        if rec["status"] != "ok" or (seeds is not None and cell["seed"] not in seeds):
            continue
        data = load_dataset(cell["dataset"])
        name = f"{root.name}/{cell['dataset']}/{cell['method']}-{cell['backbone']}-" \
            f"{cell['bits']}b/{cell['defense']}"
        direction = cell.get("direction") or ""
        key = (name, cell["seed"], direction)
        if key not in db_codes:
            db_codes[key] = _database_codes(name, cell["seed"], data, direction)
        row = rows.setdefault((cell["dataset"], cell["method"], cell["defense"], direction,
                               cell["seed"]), {"per query": {}, "model": name})
        attack = cell["attack"]
        if attack == "worst_case":
            row["members"] = rec["metrics"]["worst_case_of"]
            row["worst case"] = rec["metrics"]["map"]
            continue
        if cell.get("scale", 1) != 1 or attack == "blackbox_worst_case":
            continue  # a convergence check's run, or an aggregate without codes of its own
        arrays = read_sidecar(path, rec)
        codes = arrays["codes"].astype(np.float64)
        labels = data.query.labels[: len(codes)].numpy()
        ap, _ = expected_average_precision(codes, db_codes[key], labels,
                                           data.database.labels.numpy(), rec["metrics"]["topk"])
        row["per query"][attack] = ap
        if attack == "clean":
            row["clean"] = (rec["metrics"]["clean_map"], float(ap.mean()))
    for row in rows.values():  # the worst case rescored: the per-query minimum of its members
        members = [row["per query"][a] for a in row["members"]]
        row["worst case"] = (row["worst case"], float(np.min(members, axis=0).mean()))
    return rows


def main(root: Path) -> None:
    by_seed = rescored(root)
    rows: dict[tuple, dict[str, list]] = {}
    for (*row, _), got in by_seed.items():
        for col in ("clean", "worst case"):
            rows.setdefault(tuple(row), {}).setdefault(col, []).append(got[col])
    print(f"{'dataset':<12} {'method':<6} {'defense':<10} {'dir':<4} {'column':<11} "
          f"{'index order':>11} {'tie-aware':>10} {'change':>8}")
    for (dataset, method, defense, direction), cols in sorted(rows.items()):
        for col in ("clean", "worst case"):
            pairs = np.array(cols[col])
            old, new = pairs.mean(0)
            print(f"{dataset:<12} {method:<6} {defense:<10} {direction or '-':<4} {col:<11} "
                  f"{old:11.4f} {new:10.4f} {new - old:+8.4f}")
    for dataset in sorted({d for d, *_ in rows}):
        data = load_dataset(dataset)
        q, db = data.query.labels.numpy()[:500], data.database.labels.numpy()
        ones_q, ones_db = torch.ones(len(q), 32), torch.ones(len(db), 32)
        index = average_precision(ones_q, ones_db, torch.tensor(q), torch.tensor(db)).mean()
        tied, _ = expected_average_precision(ones_q.numpy(), ones_db.numpy(), q, db, None)
        r = (db @ q.T > 0).sum(0)
        print(f"{dataset}: all codes equal score {index:.4f} in index order, {tied.mean():.4f} "
              f"tie-aware; floor r/n {float((r / len(db)).mean()):.4f}, exact "
              f"{float(random_floor(r, len(db)).mean()):.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/standard-v2"))
