"""The example external package, installed as a third party would be: discovered, self-checked,
run on a suite, and shown on the leaderboard as third-party, with no change to hashbench.

"Installed" = its entry-point metadata in a dist-info folder on the path, which is what
`pip install` writes; the test needs no network and leaves the environment alone.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hashbench-example-defense"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    info = site / "hashbench_example_defense-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hashbench-example-defense\n"
                                   "Version: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[hashbench.defenses]\nconsistency = hashbench_example_defense:CodeConsistency\n"
        "hag_at = hashbench_example_defense.hag_training:HagTraining\n")
    return site


def hb(site: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(site), str(EXAMPLE / "src"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": path, "COLUMNS": "200"},
                          timeout=600)


def test_listed_as_third_party(site):
    done = hb(site, "list")
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "consistency" in ln)
    assert "hashbench-example-defense" in line and "third-party" in line


@pytest.mark.parametrize("name", ["consistency", "hag_at"])
def test_selfcheck_passes(site, name):
    """hag_at is the docs' worked example of an inner attack run inside ``fit``."""
    done = hb(site, "selfcheck", "--defense", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout


def test_runs_on_a_published_suite_and_reaches_the_leaderboard(site, tmp_path):
    results, board = tmp_path / "results", tmp_path / "board"
    done = hb(site, "run", "--suite", "smoke", "--add-defense", "consistency", "--only",
              "defense=consistency", "--results", str(results), "--cache", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    rec = json.loads((results / "smoke-v1/mnist/dpsh-small_cnn-16b/consistency/hag.json")
                     .read_text())
    assert rec["model"]["defense"]["third_party"] is True
    assert rec["model"]["defense"]["distribution"] == "hashbench-example-defense"
    assert hb(site, "validate", str(results)).returncode == 0
    done = hb(site, "report", "--results", str(results), "--out", str(board), "--no-plots")
    assert done.returncode == 0, done.stderr
    row = next(ln for ln in (board / "README.md").read_text().splitlines()
               if "| consistency |" in ln)
    assert "| yes |" in row  # the third-party column
    assert re.search(r'<tr class="[^"]*third-party', (board / "index.html").read_text())


def test_unknown_added_defense_is_refused_with_close_matches(site, tmp_path):
    done = hb(site, "run", "--suite", "smoke", "--add-defense", "consistensy",
              "--results", str(tmp_path))
    assert done.returncode == 2 and "did you mean consistency" in done.stderr


def test_example_defense_is_about_thirty_lines():
    src = (EXAMPLE / "src/hashbench_example_defense/__init__.py").read_text().splitlines()
    code = [ln for ln in src if ln.strip() and not ln.strip().startswith("#")]
    assert len(code) <= 60  # docstring included; the logic itself is ~30 lines
