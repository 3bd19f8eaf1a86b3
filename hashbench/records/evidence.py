"""A record is what its evidence says: its headline numbers recomputed from the per-query arrays
of its sidecar (whose sha256 the record names), so that an edited number is caught by
``validate`` and never shown by ``report``.

Checked where the sidecar holds the arrays: mAP under attack (``ap``), clean mAP
(``clean_ap``), their 95% bootstrap intervals (a pure function of the per-query values) and the
largest perturbation (``linf``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hashbench.errors import ResultError
from hashbench.records.intervals import bootstrap_ci
from hashbench.records.io import read_sidecar

TOLERANCE = 1e-9  # the float64 means the record was written from, re-taken


def disagreement(path: Path, record: dict) -> str | None:
    """Why ``record`` (at ``path``) disagrees with its evidence, or None when it agrees (or
    has no sidecar: a failed cell). A missing or altered sidecar raises ResultError."""
    if record.get("status") != "ok" or not record.get("sidecar"):
        return None
    arrays = read_sidecar(path, record)
    m = record["metrics"]
    for key, array in (("map", "ap"), ("clean_map", "clean_ap")):
        if array not in arrays or key not in m:
            continue
        values = np.asarray(arrays[array], dtype=np.float64)
        mean = float(values.mean()) if values.size else 0.0
        if not _close(m[key], mean):
            return f"metrics.{key} is {m[key]!r}, its sidecar's per-query {array} average {mean!r}"
        ci = m.get(f"{key}_ci95")
        if ci is not None and not all(_close(a, b) for a, b in zip(ci, bootstrap_ci(values))):
            return f"metrics.{key}_ci95 is {ci!r}, not the bootstrap of its sidecar's {array}"
    if "linf" in arrays and "linf_max" in m and arrays["linf"].size and \
            not _close(m["linf_max"], float(np.max(arrays["linf"]))):
        return f"metrics.linf_max is {m['linf_max']!r}, its sidecar's largest linf " \
            f"{float(np.max(arrays['linf']))!r}"
    return None


def check_evidence(path: Path, record: dict) -> None:
    """Raise ResultError naming ``path`` when the record disagrees with its evidence."""
    why = disagreement(path, record)
    if why:
        raise ResultError(f"{path}: {why}: the record does not match its evidence (edited?); "
                          "re-run the cell or restore the record")


def _close(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= TOLERANCE
    except (TypeError, ValueError):
        return False
