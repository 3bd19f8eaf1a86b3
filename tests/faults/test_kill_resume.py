"""kill -9 at random points of a multi-model run (a vanilla model and a defense fine-tuned from
it), then a resumed run: the records come out bit for bit those of an uninterrupted run."""

import io
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SUITE = """
name = "killed"
version = 1
seed = 0
worst_case = ["hag", "center_pgd"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla", "atrdh"]
attacks = ["hag", "center_pgd"]
queries = 32

[defense.vanilla]
epochs = 2
optimizer = "adam"
lr = 0.001
weight_decay = 0.0

[defense.atrdh]
epochs = 1
steps = 2
proto_hidden = 64
optimizer = "adam"
lr = 0.001

[attack.hag]
steps = 4

[attack.center_pgd]
steps = 4
"""
CELLS = 2 * 4  # per model: clean, hag, center_pgd, worst_case


def run_args(suite: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite), "--results",
            str(root / "results"), "--cache", str(root / "cache")]


def content(results: Path) -> dict:
    """Every record's metrics, model and sidecar arrays (not its timings or provenance)."""
    out = {}
    for path in sorted(results.rglob("*.json")):
        if path.name.startswith("."):
            continue
        rec = json.loads(path.read_text())
        with np.load(io.BytesIO((path.parent / rec["sidecar"]["path"]).read_bytes())) as npz:
            arrays = {k: npz[k].tobytes() for k in npz.files}
        out[str(path.relative_to(results))] = (rec["status"], rec["metrics"],
                                               rec["model"]["checkpoint_sha256"], arrays)
    return out


def test_kill_at_random_points_then_resume_is_bit_identical(tmp_path):
    suite = tmp_path / "killed.toml"
    suite.write_text(SUITE)
    t0 = time.perf_counter()
    reference = subprocess.run(run_args(suite, tmp_path / "ref"), capture_output=True, text=True,
                               timeout=600)
    duration = time.perf_counter() - t0
    assert reference.returncode == 0, reference.stderr
    expected = content(tmp_path / "ref" / "results")
    assert len(expected) == CELLS

    chance = random.Random(20261201)  # the kill points: random, and the same on every run
    root = tmp_path / "killed"
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(run_args(suite, root), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # a random point in the first half of a whole run's time (import, data loading,
        # training, an attack, a write): each attempt pays the start-up again, so three such
        # kills land before the work is done
        time.sleep(chance.uniform(0.1, 0.5) * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "the kills should land before the run ends"
    resumed = subprocess.run(run_args(suite, root), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert content(root / "results") == expected
    leftovers = [p for p in root.rglob("*.tmp")]
    assert leftovers == [], leftovers  # the killed writers' temp files were cleaned up
    model = root / "results/killed/mnist/dpsh-small_cnn-16b"
    vanilla = json.loads((model / "vanilla/clean.json").read_text())["model"]
    atrdh = json.loads((model / "atrdh/clean.json").read_text())["model"]
    assert atrdh["parent_checkpoint_sha256"] == vanilla["checkpoint_sha256"]  # names its parent
