"""Calibrate the cost estimate a run prints before its first cell (``harness.estimate``).

The published index prices each cell by what it took where it was computed; to scale that to
another machine, the index holds, per suite folder, the seconds ``estimate.calibrate`` (a fixed
workload) would take on the machine that computed its records. That machine is gone, so it is
measured by proxy: recompute a handful of its cells here (their models taken from the zoo, the
records' thread count), and scale this machine's calibration by how much faster or slower the
published cells ran:

    python benchmarks/estimate_cost.py --calibrate standard-v2 [--also crossmodal-v2 ...]

``--also`` gives other suite folders the same reference (their records were computed on the same
kind of machine; say so when you use it). The index is rewritten from results/ with it.
"""

from __future__ import annotations

# ruff: noqa: E402 - the kernels are pinned before torch is imported, as the CLI does
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hashbench import cpu_kernels

cpu_kernels.pin()

from hashbench.harness.estimate import calibrate
from hashbench.records.published import published_index, write_index

ROOT = Path(__file__).resolve().parents[1]
# the reference cells: cheap attack cells of a plain and a defended model, seed 0
CELLS = {"standard-v2": ("--seed", "0", "--only", "dataset=mnist", "--only",
                         "defense=vanilla,cgat", "--only", "attack=hag,center_pgd,targeted_pgd")}


def recompute(folder: str, scratch: Path) -> dict[str, float]:
    """The seconds each reference cell took here (record place -> seconds, training apart)."""
    suite = folder.rsplit("-v", 1)[0]
    subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite", suite,
                    *CELLS[folder], "--results", str(scratch / "r"), "--cache",
                    str(scratch / "c"), "--quiet"], check=True)
    out = {}
    for path in (scratch / "r").rglob("*.json"):
        rec = json.loads(path.read_text())
        if rec["status"] == "ok" and rec["cell"]["attack"] in ("hag", "center_pgd",
                                                               "targeted_pgd"):
            training = rec["cost"].get("phases", {}).get("training", 0.0)
            out[path.relative_to(scratch / "r").as_posix()] = \
                rec["cost"]["wall_seconds"] - training
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrate", required=True, choices=sorted(CELLS))
    ap.add_argument("--also", nargs="*", default=[])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        here = recompute(args.calibrate, Path(tmp))
    index = published_index()
    published = sum(index[p]["seconds"] for p in here)
    measured = sum(here.values())
    ratio = published / measured
    reference = calibrate() * ratio
    sys.stdout.write(f"{len(here)} cells: published {published:.1f} s, here {measured:.1f} s "
                     f"(ratio {ratio:.3f}); calibration here {calibrate():.3f} s -> reference "
                     f"{reference:.3f} s\n")
    write_index(ROOT / "results", calibration={f: round(reference, 4)
                                               for f in [args.calibrate, *args.also]})


if __name__ == "__main__":
    main()
