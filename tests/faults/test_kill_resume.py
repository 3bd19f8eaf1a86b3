"""kill -9 inside training, inside an attack and between a sidecar and its record, in a
multi-model run (a vanilla model and a defense fine-tuned from it), then a resumed run: the
records come out bit for bit those of an uninterrupted run."""

import io
import json
import os
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
epochs = 1
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


# where each attempt is killed: the process stops itself there (hashbench.harness.failpoints) and the
# test kills it stopped, so every kill lands where it says, whatever the machine's speed
KILL_POINTS = (
    "train-step@3",       # inside the vanilla model's training (no checkpoint yet)
    "attack-start@1",     # vanilla trained and its clean cell written: inside the hag attack
    "sidecar-written@2",  # a sidecar on disk, its record not yet written
)


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP: state T in /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


# every run of the test single-threaded (the thread count is part of what makes the bytes), so
# that the uninterrupted reference runs beside the killed ones, one core each
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def kill_at(point: str, suite: Path, root: Path) -> None:
    proc = subprocess.Popen(run_args(suite, root), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**ONE_THREAD, "HASHBENCH_FAILPOINT": point})
    deadline = time.monotonic() + 300
    while not stopped(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended ({proc.returncode}) before reaching {point}"
    assert stopped(proc.pid), f"the run did not reach {point} in time"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_at_each_point_then_resume_is_bit_identical(tmp_path):
    suite = tmp_path / "killed.toml"
    suite.write_text(SUITE)
    reference = subprocess.Popen(run_args(suite, tmp_path / "ref"), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    root = tmp_path / "killed"
    for point in KILL_POINTS:
        kill_at(point, suite, root)
    _, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err
    expected = content(tmp_path / "ref" / "results")
    assert len(expected) == CELLS
    results = root / "results" / "killed-v1" / "mnist" / "dpsh-small_cnn-16b"
    orphans = [p for p in results.rglob("*.queries.npz") if not p.with_suffix("").with_suffix(
        ".json").is_file()]
    assert orphans, "a kill between a sidecar and its record leaves the sidecar alone"
    resumed = subprocess.run(run_args(suite, root), capture_output=True, text=True, timeout=600,
                             env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    assert content(root / "results") == expected
    leftovers = [p for p in root.rglob("*.tmp")]
    assert leftovers == [], leftovers  # the killed writers' temp files were cleaned up
    model = root / "results/killed-v1/mnist/dpsh-small_cnn-16b"
    vanilla = json.loads((model / "vanilla/clean.json").read_text())["model"]
    atrdh = json.loads((model / "atrdh/clean.json").read_text())["model"]
    assert atrdh["parent_checkpoint_sha256"] == vanilla["checkpoint_sha256"]  # names its parent
