"""A suite that scores ties by their expectation (``ties = "expected"``): its records say so,
their floor is the exact expected mAP of a random ranking, their clean mAP is the tie-aware AP
of the codes in their sidecars, and their config hashes differ from the index-order suite's
(whose cells keep theirs)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import hashbench
from hashbench.data import load_dataset
from hashbench.harness.suites import load_suite
from hashbench.metrics.ties import expected_average_precision, random_floor

SMOKE = Path(hashbench.__file__).parent / "suites" / "smoke.toml"


def test_a_tie_aware_suite_scores_ties_by_their_expectation(tmp_path):
    suite = tmp_path / "smoke_ties.toml"
    suite.write_text(SMOKE.read_text().replace('name = "smoke"', 'name = "smoke_ties"')
                     .replace('seed = 0', 'seed = 0\nties = "expected"'))
    assert load_suite(str(suite)).ties == "expected" and load_suite("smoke").ties == "index"
    ties_cells = {c.attack: c.to_dict() for c in load_suite(str(suite)).cells()}
    index_cells = {c.attack: c.to_dict() for c in load_suite("smoke").cells()}
    assert ties_cells["clean"]["ties"] == "expected" and "ties" not in index_cells["clean"]

    done = subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite),
                           "--only", "attack=clean,hag", "--results", str(tmp_path / "r"),
                           "--cache", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "r/smoke_ties-v1/mnist/dpsh-small_cnn-16b/vanilla"
    clean = json.loads((folder / "clean.json").read_text())
    hag = json.loads((folder / "hag.json").read_text())
    assert clean["metrics"]["ties"] == "expected" and hag["metrics"]["ties"] == "expected"

    data = load_dataset("mnist")
    q_labels = data.query.labels[:64].numpy()
    db_labels = data.database.labels.numpy()
    r = (db_labels @ q_labels.T > 0).sum(0)
    floor = float(random_floor(r, len(db_labels)).mean())
    assert abs(clean["metrics"]["random_map"] - floor) < 1e-12
    # the clean number is the expectation for the codes the sidecar holds
    side = np.load(folder / "clean.queries.npz")
    codes = side["codes"].astype(np.float64)
    from hashbench.harness.store import ModelStore

    db_codes = ModelStore(tmp_path / "c").load_codes(clean["model"]["cache_key"])["database"]
    ap, _ = expected_average_precision(codes, db_codes.numpy(), q_labels, db_labels, None)
    assert abs(float(ap.mean()) - clean["metrics"]["clean_map"]) < 1e-12
    assert np.allclose(side["clean_ap"], ap, rtol=0, atol=1e-12)
