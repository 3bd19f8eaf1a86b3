"""The records hashbench publishes, by hash: shipped with the package (``published.json``), so that
a board decides a row's provenance from evidence the package holds, never from what a record
says about itself, and a checkpoint taken from any zoo for a published model is held to the
checkpoint its published record measured.

The index maps each shipped record's place (``<suite>-v<N>/<dataset>/<model>/<defense>[...]/
<attack>.json`` below ``results/``) to the sha256 of its bytes and, for a clean cell, the sha256
of the checkpoint it measured. ``python -m hashbench.records.published results`` rewrites it
from a results folder when records are published; a test holds it equal to ``results/``.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hashbench.errors import HashbenchError
from hashbench.records.io import atomic_write_bytes, iter_record_paths, load_record, sha256_bytes

INDEX = "published.json"


def build_index(results: Path, skip_unreadable: bool = False) -> dict[str, dict]:
    """The index of every ok record under ``results`` (``skip_unreadable``: leave out a record
    that cannot be read instead of failing; the run that meets it says so itself)."""
    results = Path(results)
    out: dict[str, dict] = {}
    for path in iter_record_paths([results]):
        try:
            data = path.read_bytes()
            rec = load_record(path)
        except (HashbenchError, OSError):
            if skip_unreadable:
                continue
            raise
        if rec["status"] != "ok":
            continue
        cost = rec.get("cost") or {}
        training = float((cost.get("phases") or {}).get("training", 0.0))
        entry = {"sha256": sha256_bytes(data),
                 # what the cell cost where it was computed: its own seconds, and its model's
                 # training when it carried it (the estimate before a run reads these)
                 "seconds": round(float(cost.get("wall_seconds", 0.0)) - training, 3),
                 "training_seconds": round(training, 3)}
        if rec["cell"]["attack"] == "clean" and rec["model"].get("checkpoint_sha256"):
            entry["checkpoint_sha256"] = rec["model"]["checkpoint_sha256"]
            entry["seed"] = rec["cell"]["seed"]
        out[path.relative_to(results).as_posix()] = entry
    return dict(sorted(out.items()))


@lru_cache(maxsize=1)
def _shipped() -> dict:
    try:
        text = resources.files("hashbench.records").joinpath(INDEX).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def published_index() -> dict[str, dict]:
    """The index shipped with the installed package ({} if it ships none)."""
    return _shipped().get("records", {})


def calibration() -> dict[str, float]:
    """Per suite folder, the seconds ``harness.estimate.calibrate`` would take on the machine
    that computed its published records (measured when the index was written)."""
    return _shipped().get("calibration", {})


def published_hashes() -> frozenset[str]:
    """The sha256 of every published record's bytes."""
    return frozenset(e["sha256"] for e in published_index().values())


def published_checkpoint(name: str, seed: int) -> set[str]:
    """The checkpoint sha256 the published clean records of model ``name`` (``<suite
    folder>/<dataset>/<model>/<defense>``) measured at root seed ``seed`` (empty when no
    published record names it)."""
    return {e["checkpoint_sha256"] for place, e in published_index().items()
            if "/".join(place.split("/")[:4]) == name and e.get("seed") == seed
            and "checkpoint_sha256" in e}


def write_index(results: Path, out: Path | None = None,
                calibration: dict[str, float] | None = None) -> Path:
    """Rewrite the index from ``results``, keeping its calibration (``calibration`` adds to
    it: ``benchmarks/estimate_cost.py --calibrate`` measures it)."""
    target = Path(out) if out else Path(str(resources.files("hashbench.records"))) / INDEX
    calib = {**_shipped().get("calibration", {}), **(calibration or {})}
    text = json.dumps({"index_version": 1, "calibration": dict(sorted(calib.items())),
                       "records": build_index(results)}, indent=1)
    atomic_write_bytes(target, (text + "\n").encode())
    return target


if __name__ == "__main__":
    sys.stdout.write(f"{write_index(Path(sys.argv[1] if len(sys.argv) > 1 else 'results'))}\n")
