"""Submitting to a published suite: an added attack gets its own column and leaves the published
records alone; an added defense trains with the suite's recipe; only added plugins take
parameters; a local suite file cannot pass itself off as a published one."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hashbench.errors import ConfigError
from hashbench.harness.suites import load_suite

FOLDER = "smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"
SMOKE = Path(__file__).resolve().parents[2] / "hashbench/suites/smoke.toml"


def hb(*args):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_an_added_attack_is_a_new_column_and_changes_no_record(smoke_results, tmp_path):
    shutil.copytree(smoke_results / "results", tmp_path / "r")
    shutil.copytree(smoke_results / "cache", tmp_path / "c")
    before = {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()}
    res = hb("run", "--suite", "smoke", "--add-attack", "p2p", "--attack-param", "p2p.steps=3",
             "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"))
    assert res.returncode == 0, res.stderr
    assert "1 cells computed, 5 already finished" in res.stderr
    rec = json.loads((tmp_path / "r" / FOLDER / "p2p.json").read_text())
    assert rec["status"] == "ok" and rec["attack"]["params"]["steps"] == 3
    assert {p: p.read_bytes() for p in before} == before  # the worst case is the suite's


def test_an_added_defense_trains_with_the_suite_recipe():
    suite = load_suite("standard")
    assert suite.training_recipe() == {"epochs": 8, "optimizer": "adam", "lr": 0.001}
    v1 = load_suite("standard-v1")
    again = v1.with_defenses(["cgat"]).with_attacks(["hag"])  # the suite's own: unchanged
    assert again.defense_params == v1.defense_params and again.groups == v1.groups
    one = load_suite("smoke").with_defenses(["saat"], {"saat": {"epochs": 2}})
    assert one.defense_params["saat"] == {"epochs": 2}  # smoke has no recipe: plugin defaults


@pytest.mark.parametrize("args, message", [
    (["--defense-param", "vanilla.epochs=1"], "'vanilla' is not added with --add-defense"),
    (["--add-attack", "p2p", "--attack-param", "p2p.steps"], "write NAME.KEY=VALUE"),
    (["--add-attack", "p2p", "--attack-param", "p2p.stepz=3"], "unknown parameter(s) stepz"),
    (["--add-attack", "hagg"], "did you mean hag"),
])
def test_bad_submission_options_are_refused(args, message, tmp_path):
    res = hb("run", "--suite", "smoke", "--results", str(tmp_path / "r"), "--cache",
             str(tmp_path / "c"), *args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr


def test_a_local_file_cannot_reuse_a_published_name(tmp_path):
    same = tmp_path / "copy.toml"
    same.write_text(SMOKE.read_text())
    assert load_suite(str(same)).name == "smoke"  # an exact copy is the published suite
    other = tmp_path / "mine.toml"
    other.write_text(SMOKE.read_text().replace('"targeted_pgd"]', '"targeted_pgd", "p2p"]'))
    with pytest.raises(ConfigError, match="differs from it; give your suite another name"):
        load_suite(str(other))
