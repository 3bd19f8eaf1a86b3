"""One torch thread per cell makes the numbers independent of the machine: a suite that fixes
``threads = 1`` gives the same checkpoints and the same records (metrics and sidecars) whether
its cells run in this process or in two worker processes (``--jobs``), and whatever
OMP_NUM_THREADS the process started with."""

import json
import os
import subprocess
import sys
from pathlib import Path

import hashbench

SMOKE = Path(hashbench.__file__).parent / "suites" / "smoke.toml"


def run(tmp_path: Path, name: str, suite: Path, jobs: int, omp: str) -> dict:
    res, cache = tmp_path / name / "r", tmp_path / name / "c"
    done = subprocess.run(
        [sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite), "--jobs", str(jobs),
         "--results", str(res), "--cache", str(cache), "--quiet"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": omp})
    assert done.returncode == 0, done.stderr
    return collected(res)


def collected(res: Path) -> dict:
    """Per record: metrics, checkpoint and sidecar sha256, and the thread count it ran on."""
    out = {}
    for path in sorted(res.rglob("*.json")):
        rec = json.loads(path.read_text())
        out[path.relative_to(res).as_posix()] = (
            rec["metrics"], rec["model"]["checkpoint_sha256"], rec["sidecar"]["sha256"],
            rec["provenance"]["cpu_kernels"]["threads"])
    return out


def one_thread_smoke(tmp_path: Path) -> Path:
    """The smoke suite with v3's protocol knobs: one thread per cell, tie-aware metrics, draws
    scoped by cell identity."""
    suite = tmp_path / "smoke_t1.toml"
    suite.write_text(SMOKE.read_text().replace('name = "smoke"', 'name = "smoke_t1"')
                     .replace("seed = 0", 'seed = 0\nthreads = 1\nties = "expected"\n'
                              'generators = "cell"'))
    return suite


def test_jobs_and_thread_settings_give_identical_records(tmp_path):
    suite = one_thread_smoke(tmp_path)
    one = run(tmp_path, "jobs1-omp1", suite, 1, "1")
    assert len(one) == 5 and all(v[3] == 1 for v in one.values())
    assert run(tmp_path, "jobs2-omp2", suite, 2, "2") == one
    # the model was trained in a worker before any cell: its clean cell carries the training
    clean = json.loads(next((tmp_path / "jobs2-omp2" / "r").rglob("clean.json")).read_text())
    assert clean["cost"]["trained_models"] == 1 and clean["cost"]["phases"]["training"] > 0
    assert run(tmp_path, "jobs1-omp2", suite, 1, "2") == one
    # reproduce retrains on one thread, whatever the process has, cell after cell (--jobs 1)
    # where the records were made two at a time, and compares with tolerance 0
    again = subprocess.run(
        [sys.executable, "-m", "hashbench.cli", "reproduce", str(tmp_path / "jobs2-omp2" / "r"),
         "--scratch", str(tmp_path / "scratch"), "--jobs", "1"], capture_output=True, text=True, timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "2", "COLUMNS": "200"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "all metrics within 0" in again.stdout
