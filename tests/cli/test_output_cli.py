"""What `hashbench run` prints: plain progress lines when not on a terminal, a summary table,
--json for scripts, --quiet for logs."""

import json
import os
import re
import shutil
import subprocess
import sys


def hb(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_progress_lines_summary_table_json_and_quiet(smoke_results, tmp_path):
    shutil.copytree(smoke_results / "results", tmp_path / "r")
    shutil.copytree(smoke_results / "cache", tmp_path / "c")
    (tmp_path / "r/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/hag.json").unlink()
    args = ["run", "--suite", "smoke", "--results", str(tmp_path / "r"), "--cache",
            str(tmp_path / "c")]
    res = hb(*args, env={"HASHBENCH_LOG_EVERY": "0"})
    assert res.returncode == 0, res.stderr
    # no terminal: the progress is plain lines on stdout (a log file gets them)
    assert re.search(r"^\d\d:\d\d:\d\d hag on .*: \d+/64", res.stdout, re.M), res.stdout
    assert re.search(r"^\d\d:\d\d:\d\d suite smoke v1: 5/5 done", res.stdout, re.M)
    assert "this run" in res.stderr and "│ mnist" in res.stderr  # the summary table
    done = json.loads(hb(*args, "--json").stdout)
    assert len(done["finished"]) == 5 and done["failed"] == [] and done["computed"] == []
    quiet = hb(*args, "--quiet")
    assert quiet.returncode == 0
    assert quiet.stderr.strip().splitlines() == [
        f"suite smoke v1: 0 cells computed, 5 already finished, 0 failed, 0 models trained; "
        f"results in {tmp_path / 'r'}"]


def test_a_restricted_run_says_its_cost_and_ends_with_a_provisional_worst_case(smoke_results,
                                                                              tmp_path):
    """Before the first cell: the cells, the models and an estimate (a suite nothing published
    prices is priced by the records its results folder holds); a filter that leaves a member
    out gives the worst case over the members it ran, said before the work, exit 0; a thread
    count the user gives holds for the run and is the one the records state."""
    shutil.copytree(smoke_results / "results", tmp_path / "r")
    shutil.copytree(smoke_results / "cache", tmp_path / "c")
    row = tmp_path / "r/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"
    for name in ("targeted_pgd", "worst_case"):
        (row / f"{name}.json").unlink()
    res = hb("run", "--suite", "smoke", "--results", str(tmp_path / "r"), "--cache",
             str(tmp_path / "c"), "--exclude", "attack=targeted_pgd", "--force",
             env={"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    first_cell = next(i for i, line in enumerate(lines) if re.search(r" \d+/\d+", line))
    assert any(re.fullmatch(r"4 cells and 0 models to train: about \d+ s on this machine", line)
               for line in lines[:first_cell]), res.stdout
    assert any("over hag, center_pgd only (this run leaves out targeted_pgd): provisional"
               in line for line in lines[:first_cell]), res.stdout
    worst = json.loads((row / "worst_case.json").read_text())
    assert worst["status"] == "ok"
    assert sorted(worst["metrics"]["worst_case_of"]) == ["center_pgd", "hag"]
    hag = json.loads((row / "hag.json").read_text())
    assert hag["provenance"]["cpu_kernels"]["threads"] == 1
    assert not (row / "targeted_pgd.json").exists()
