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
