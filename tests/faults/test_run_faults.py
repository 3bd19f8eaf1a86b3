"""Fault injection during `hashbench run`: nothing finished is lost or changed."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

FOLDER = "smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"


def hb(*args):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, timeout=600)


def copy_run(smoke_results: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(smoke_results / "results", tmp_path / "results")
    shutil.copytree(smoke_results / "cache", tmp_path / "cache")
    return tmp_path / "results", tmp_path / "cache"


def records(results: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()
            and not p.name.startswith(".")}


def test_failed_recomputation_keeps_the_finished_records(smoke_results, tmp_path):
    results, cache = copy_run(smoke_results, tmp_path)
    for ckpt in (cache / "models").glob("*.pt"):
        ckpt.write_bytes(b"not a checkpoint")
    before = records(results)
    res = hb("run", "--suite", "smoke", "--results", str(results), "--cache", str(cache),
             "--force")
    assert res.returncode == 1
    assert "is unreadable" in res.stderr and "the finished record is kept" in res.stderr
    assert records(results) == before  # every good record (and sidecar) untouched
    assert (results / FOLDER / ".hag.failed.json").is_file()
    assert hb("validate", str(results)).returncode == 0


def test_an_unreadable_record_is_recomputed_and_said_so(smoke_results, tmp_path):
    results, cache = copy_run(smoke_results, tmp_path)
    hag = results / FOLDER / "hag.json"
    good = hag.read_bytes()
    hag.write_bytes(good[:100])
    res = hb("run", "--suite", "smoke", "--results", str(results), "--cache", str(cache))
    assert res.returncode == 0, res.stderr
    assert "not a readable JSON record" in res.stderr and "recomputing the cell" in res.stderr
    assert "1 cells computed, 4 already finished" in res.stderr
    assert hb("validate", str(results)).returncode == 0


def test_a_record_computed_on_other_kernels_is_recomputed_and_said_so(smoke_results, tmp_path):
    # what a script that imported torch before hashbench leaves in a shared results folder: a
    # finished-looking record whose bytes the pinned kernels would not give
    results, cache = copy_run(smoke_results, tmp_path)
    hag = results / FOLDER / "hag.json"
    rec = json.loads(hag.read_text())
    assert rec["provenance"]["cpu_kernels"]["aten"] == "AVX2"
    rec["provenance"]["cpu_kernels"]["aten"] = "AVX512"
    hag.write_text(json.dumps(rec))
    res = hb("run", "--suite", "smoke", "--results", str(results), "--cache", str(cache))
    assert res.returncode == 0, res.stderr
    assert "computed on AVX512 CPU kernels, not this run's AVX2; recomputing the cell" in (
        " ".join(res.stderr.split()))
    assert "1 cells computed, 4 already finished" in res.stderr
    assert json.loads(hag.read_text())["provenance"]["cpu_kernels"]["aten"] == "AVX2"


def test_another_seed_never_writes_over_the_first(smoke_results, tmp_path):
    results, cache = copy_run(smoke_results, tmp_path)
    before = records(results)
    res = hb("run", "--suite", "smoke", "--results", str(results), "--cache", str(cache),
             "--seed", "1", "--only", "attack=clean")
    assert res.returncode == 0, res.stderr
    after = records(results)
    assert {p: after[p] for p in before} == before
    assert (results / FOLDER / "seed1" / "clean.json").is_file()
