"""The attack ensemble through `hashbench run / validate / report`: a defended model is attacked
with transfer from its own vanilla checkpoint, and the record says which stage did the damage."""

import json
import subprocess
import sys

SUITE = """
name = "ensemble_check"
version = 1
seed = 0
worst_case = ["hag", "hash_aa"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla", "cgat"]
attacks = ["hag", "hash_aa"]
queries = 48

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
steps = 5
queries = 20
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
        assert rec["status"] == "ok" and sum(ens["damage_by"].values()) == 48
        assert rec["metrics"]["map"] <= ens["whitebox_map"] + 1e-9
        worst = json.loads((folder / defense / "worst_case.json").read_text())
        assert worst["metrics"]["map"] <= rec["metrics"]["map"] + 1e-12
    # vanilla is its own transfer source, so only the defended model runs the transfer stage
    cgat = json.loads((folder / "cgat/hash_aa.json").read_text())
    assert "transfer" in cgat["metrics"]["ensemble"]["stages"]
    report = hb("report", "--results", str(results), "--out", str(board))
    assert report.returncode == 0, report.stderr
    assert "hash\\_aa mAP" in (board / "README.md").read_text()
