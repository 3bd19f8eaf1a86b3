"""The attack ensemble through `hashbench run / validate / report`: a defended model is attacked
with transfer from its own vanilla checkpoint, and the record says which stage did the damage;
the suite's convergence check runs it again at twice its budget, and the board shows how far
that lowers each row's worst case."""

import csv
import json
import subprocess
import sys

import numpy as np

SUITE = """
name = "ensemble_check"
version = 1
seed = 0
worst_case = ["hag", "hash_aa"]
convergence = "hash_aa"

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla", "cgat"]
attacks = ["hag", "hash_aa"]
queries = 32

[defense.vanilla]
epochs = 2
optimizer = "adam"
lr = 0.001
weight_decay = 0.0

[defense.cgat]
epochs = 1
optimizer = "adam"
lr = 0.001
weight_decay = 0.0

[attack.hag]
steps = 5

[attack.hash_aa]
steps = 4
queries = 12
design = 2
"""


def hb(*args):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_ensemble_cells_run_validate_and_render(tmp_path):
    suite = tmp_path / "ensemble.toml"
    suite.write_text(SUITE)
    results, board = tmp_path / "results", tmp_path / "board"
    run = hb("run", "--suite", str(suite), "--results", str(results), "--cache",
             str(tmp_path / "cache"))
    assert run.returncode == 0, run.stderr
    assert hb("validate", str(results)).returncode == 0
    folder = results / "ensemble_check-v1/mnist/dpsh-small_cnn-16b"
    for defense in ("vanilla", "cgat"):
        rec = json.loads((folder / defense / "hash_aa.json").read_text())
        ens = rec["metrics"]["ensemble"]
        assert rec["status"] == "ok" and sum(ens["damage_by"].values()) == 32
        assert rec["metrics"]["map"] <= ens["whitebox_map"] + 1e-9
        worst = json.loads((folder / defense / "worst_case.json").read_text())
        assert worst["metrics"]["map"] <= rec["metrics"]["map"] + 1e-12
    # vanilla is its own transfer source, so only the defended model runs the transfer stage
    cgat = json.loads((folder / "cgat/hash_aa.json").read_text())
    assert "transfer" in cgat["metrics"]["ensemble"]["stages"]
    report = hb("report", "--results", str(results), "--out", str(board), "--no-plots")
    assert report.returncode == 0, report.stderr
    assert "hash\\_aa mAP" in (board / "README.md").read_text()
    check_convergence(folder, board)


def check_convergence(folder, board):
    """The 2x run is its own record (twice the steps and restarts, design 2 = version 2); the
    worst case keeps its members and says how far the 2x run lowers it, query for query; the
    board shows that drop beside the worst case and flags a row past 0.01."""
    rows = {}
    for defense in ("vanilla", "cgat"):
        double = json.loads((folder / defense / "hash_aa-x2.json").read_text())
        assert double["cell"]["scale"] == 2 and double["status"] == "ok"
        assert double["attack"]["params"]["steps"] == 8
        assert double["attack"]["params"]["restarts"] == 2
        assert double["attack"]["version"] == 2
        worst = json.loads((folder / defense / "worst_case.json").read_text())
        assert worst["metrics"]["worst_case_of"] == ["hag", "hash_aa"]
        conv = worst["metrics"]["convergence"]
        ap = np.load(folder / defense / "worst_case.queries.npz")["ap"]
        ap2 = np.load(folder / defense / "hash_aa-x2.queries.npz")["ap"]
        assert conv["attack"] == "hash_aa" and conv["factor"] == 2
        assert abs(conv["map"] - np.minimum(ap, ap2).mean()) < 1e-12
        assert abs(conv["drop"] - (worst["metrics"]["map"] - conv["map"])) < 1e-12
        rows[defense] = conv["drop"]
    table = next(board.glob("ensemble_check-v1_*.csv"))
    for line in csv.DictReader(table.read_text().splitlines()):
        assert abs(float(line["drop at 2x"]) - rows[line["defense"]]) < 1e-6  # 6 decimals
        assert ("worst case not converged" in line["flags"]) == (rows[line["defense"]] > 0.01)
    readme = (board / "README.md").read_text()  # the legend says what the check column is
    assert "'drop at 2x' is how far it falls" in readme.replace("\\", "")
