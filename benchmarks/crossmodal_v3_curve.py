"""Crossmodal v3's image budget, text budget and text weight, fixed by the rule written in
benchmarks/README.md ("Crossmodal v3's budgets") before any of it was measured.

    python benchmarks/crossmodal_v3_curve.py [--out runs/cm3] [--jobs 2]
        [--eps 0.1 [--step2-from 2,2]]

Step 1 runs each eps of the ladder (0.15, 0.1, 0.05) with the defenses at text budget 2 and text
weight 1, image and text attacks alike, and stops at the first whose I->T half passes; ``--eps``
starts step 2 at a given eps instead, and ``--step2-from B,W`` at a given point of it. Step 2
runs, at that eps, text budget 2 then 1 and, at each, text weight 1, 2 and 4 (the text attacks
only), and stops at the first whose T->I half passes. Every point is a suite file of its own
under OUT/points/ (one suite name, so the vanilla models, which neither knob touches, are trained
once, in OUT/cache), run by ``hashbench run`` into OUT/<point>/; a rerun resumes. Prints, per
point, each method's clean and worst-case mAP per defense, the floor, and the verdict of each
condition.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

EPS_LADDER = (0.15, 0.1, 0.05)
TEXT_BUDGETS = (2, 1)
TEXT_WEIGHTS = (1.0, 2.0, 4.0)
MARGIN = 0.1  # (a): the better defense at least this far above the floor
DEFENDED = ("cm_cgat", "cm_saat")
IMAGE_ATTACKS = ["hag", "center_pgd", "targeted_pgd", "hash_aa"]
TEXT_ATTACKS = ["text_flip", "text_flip_targeted"]

# crossmodal v2's recipe under v3's knobs; {eps}, {b}, {attacks}, {worst}, {defended} per point
TEMPLATE = """name = "crossmodal_curve"
version = 1
seeds = [0]
ties = "expected"
threads = 1
generators = "cell"
worst_case = {worst}

[[groups]]
modality = "image-text"
datasets = ["mnist_multi"]
methods = ["dcmh", "ssah", "rmsh"]
backbones = ["small_cnn"]
bits = [32]
defenses = ["cm_vanilla", "cm_cgat", "cm_saat"]
attacks = {attacks}
budget = {eps}
text_budget = {b}
text_attacks = ["text_flip", "text_flip_targeted"]
{hash_aa}
[defense.cm_vanilla]
epochs = 30
optimizer = "adam"
lr = 0.001
{defended}"""
HASH_AA = "\n[attack.hash_aa]\ndesign = 2\nsteps = 50\nrestarts = 1\n"
# each defended model's section: crossmodal v2's fine-tuning with the point's text weight
DEFENDED_SECTION = """
[defense.{name}]
epochs = 8
optimizer = "adam"
lr = 0.0003
weight_decay = 0.0
adv_weight = 2.0
text_weight = {w}
pair_weight = 2.0
"""


def point(out: Path, eps: float, b: int, w: float, image: bool, jobs: int) -> Path:
    """Run one setting (resumable); its results folder."""
    name = f"eps{eps:g}_b{b}_w{w:g}"
    attacks = IMAGE_ATTACKS if image else []
    text = TEMPLATE.format(eps=eps, b=b, attacks=json.dumps(attacks),
                           worst=json.dumps(attacks + TEXT_ATTACKS),
                           hash_aa=HASH_AA if image else "",
                           defended="".join(DEFENDED_SECTION.format(name=d, w=w)
                                            for d in DEFENDED))
    suite = out / "points" / f"{name}.toml"
    suite.parent.mkdir(parents=True, exist_ok=True)
    suite.write_text(text)
    results = out / name
    subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite),
                    "--results", str(results), "--cache", str(out / "cache"), "--jobs",
                    str(jobs), "--quiet"], check=True)
    return results


def values(results: Path) -> dict[tuple, dict]:
    """{(method, direction): {defense: (clean mAP, worst-case mAP), "floor": floor}}."""
    out: dict[tuple, dict] = {}
    for path in sorted(results.rglob("*.json")):
        if path.name not in ("clean.json", "worst_case.json"):
            continue
        rec = json.loads(path.read_text())
        cell, m = rec["cell"], rec["metrics"]
        row = out.setdefault((cell["method"], cell["direction"]), {})
        clean, worst = row.get(cell["defense"], (None, None))
        if cell["attack"] == "clean":
            row[cell["defense"]] = (m["clean_map"], worst)
            row["floor"] = m["random_map"]
        else:
            row[cell["defense"]] = (clean, m["map"])
    return out


def half_passes(vals: dict[tuple, dict], direction: str, label: str) -> bool:
    ok = True
    print(f"\n{label}, {direction}:\n| method | vanilla clean / worst | cm_cgat | cm_saat | floor "
          "| (a) best defense >= floor + 0.1 | (b) vanilla half way |\n|---|---|---|---|---|---|---|")
    for (method, d), row in sorted(vals.items()):
        if d != direction:
            continue
        floor = row["floor"]
        clean, worst = row["cm_vanilla"]
        best = max(row[k][1] for k in DEFENDED)
        a, b = best >= floor + MARGIN, worst <= (clean + floor) / 2
        ok &= a and b
        cells = " | ".join(f"{row[k][0]:.4f} / {row[k][1]:.4f}" for k in ("cm_vanilla", *DEFENDED))
        print(f"| {method} | {cells} | {floor:.4f} | {'yes' if a else 'no'} ({best:.4f}) | "
              f"{'yes' if b else 'no'} |")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/cm3"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--eps", type=float, default=None, help="skip step 1: this eps")
    ap.add_argument("--ladder-from", type=float, default=EPS_LADDER[0],
                    help="step 1 starts at this eps of the ladder (the larger ones measured and "
                         "failed in an earlier run whose folder is gone)")
    ap.add_argument("--step2-from", default=None, metavar="B,W",
                    help="with --eps: step 2 starts at this (text budget, text weight), the "
                         "points before it measured and failed in an earlier run whose folder "
                         "is gone")
    args = ap.parse_args()
    order = [(b, w) for b in TEXT_BUDGETS for w in TEXT_WEIGHTS]
    start = 0
    if args.step2_from is not None:
        b_text, _, w_text = args.step2_from.partition(",")
        try:
            start = order.index((int(b_text), float(w_text)))
        except ValueError:
            ap.error(f"--step2-from {args.step2_from} is not a step-2 point; one of {order}")
        if args.eps is None:
            ap.error("--step2-from needs --eps: step 1's eps is already measured")
    if args.ladder_from not in EPS_LADDER:
        ap.error(f"--ladder-from {args.ladder_from:g} is not on the ladder {EPS_LADDER}")
    eps = args.eps
    if eps is None:
        for candidate in EPS_LADDER[EPS_LADDER.index(args.ladder_from):]:
            res = point(args.out, candidate, TEXT_BUDGETS[0], TEXT_WEIGHTS[0], True, args.jobs)
            if half_passes(values(res), "i2t", f"step 1, eps {candidate:g}"):
                eps = candidate
                break
        if eps is None:
            print("\nno eps of the ladder passes I->T: the decision goes back to the issue")
            return
    for b, w in order[start:]:
        first = (b, w) == order[0] and args.eps is None
        res = point(args.out, eps, b, w, first, args.jobs)  # step 1's point has both halves
        if half_passes(values(res), "t2i", f"step 2, eps {eps:g}, text budget {b}, "
                                            f"text weight {w:g}"):
            print(f"\nchosen: eps {eps:g}, text_budget {b}, text_weight {w:g}")
            return
    print("\nno (text budget, text weight) passes T->I: the data changes (benchmarks/README.md)")


if __name__ == "__main__":
    main()
