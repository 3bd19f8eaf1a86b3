"""`hashbench run / validate / list / schema` as a user drives them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hashbench.cli import cli

SMOKE_CELLS = 5  # clean, hag, center_pgd, targeted_pgd, worst_case


def hb(*args, env=None):
    """Run the real console entry point (exit codes and one-line errors included)."""
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    args = ["run", "--suite", "smoke", "--results", str(root / "results"),
            "--cache", str(root / "cache")]
    first = hb(*args)
    return root, args, first


def records(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def test_smoke_run_writes_valid_records(smoke_run):
    root, _, first = smoke_run
    assert first.returncode == 0, first.stderr
    recs = records(root / "results")
    assert len(recs) == SMOKE_CELLS
    assert hb("validate", str(root / "results")).returncode == 0
    rec = json.loads((root / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/hag.json").read_text())
    assert rec["status"] == "ok" and rec["attack"]["name"] == "hag"
    assert rec["metrics"]["eps"] == 0.3 and rec["metrics"]["linf_max"] <= 0.3 + 1e-6
    assert rec["provenance"]["torch"] and rec["provenance"]["command"].count("smoke")
    assert len(rec["config_hash"]) == 64 and rec["model"]["checkpoint_sha256"]


def test_second_run_trains_and_attacks_nothing(smoke_run):
    root, args, _ = smoke_run
    before = {p: p.stat().st_mtime_ns for p in records(root / "results")}
    t0 = time.perf_counter()
    again = hb(*args)
    assert again.returncode == 0
    assert "0 cells computed, 5 already finished" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in records(root / "results")} == before
    assert time.perf_counter() - t0 < 30


def test_same_seed_gives_identical_metrics(smoke_run, tmp_path):
    root, _, _ = smoke_run
    res = hb("run", "--suite", "smoke", "--results", str(tmp_path / "r"), "--cache",
             str(tmp_path / "c"), "--only", "attack=center_pgd,clean")
    assert res.returncode == 0, res.stderr
    for name in ("center_pgd", "clean"):
        rel = f"smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/{name}.json"
        a = json.loads((root / "results" / rel).read_text())["metrics"]
        b = json.loads((tmp_path / "r" / rel).read_text())["metrics"]
        assert a == b


KILL_SUITE = """
name = "killme"
version = 1
seed = 0
[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag", "center_pgd", "targeted_pgd", "p2p"]
queries = 64
[defense.vanilla]
epochs = 1
optimizer = "adam"
lr = 0.001
[attack.hag]
steps = 25
[attack.center_pgd]
steps = 25
[attack.targeted_pgd]
steps = 25
[attack.p2p]
steps = 25
"""


def test_sigkill_then_rerun_completes_only_missing_cells(tmp_path):
    suite = tmp_path / "killme.toml"
    suite.write_text(KILL_SUITE)
    args = ["run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--cache",
            str(tmp_path / "c")]
    proc = subprocess.Popen([sys.executable, "-m", "hashbench.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(records(tmp_path / "r")) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in records(tmp_path / "r")}
    assert 2 <= len(done) < 5, "the kill should land mid-run"
    again = hb(*args)
    assert again.returncode == 0, again.stderr
    assert f"{5 - len(done)} cells computed, {len(done)} already finished" in again.stderr
    assert "0 models trained" in again.stderr
    after = records(tmp_path / "r")
    assert len(after) == 5
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    assert hb("validate", str(tmp_path / "r")).returncode == 0


@pytest.mark.parametrize("content, message", [
    ("name = 'x'\nversion = 1\n", "'groups' is a required property"),
    ("name = 'x'\nversion = 1\ngroups = []\nbogus = 1\n", "Additional properties"),
    ("name = 'x'\nversion = 'one'\n[[groups]]\ndatasets = ['mnist']\nmethods = ['dpsh']\n"
     "backbones = ['small_cnn']\nbits = [16]\ndefenses = ['vanilla']\nattacks = []\n",
     "$.version: 'one' is not of type 'integer'"),
    ("name = 'x'\nversion = 1\n[[groups]]\ndatasets = ['mnist']\n", "(+4 more)"),
    ("name = [\n", "not valid TOML"),
])
def test_malformed_suite_files_get_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    res = hb("run", "--suite", str(path), "--results", str(tmp_path / "r"))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "bad.toml" in lines[0]


def test_unknown_suite_and_bad_filter(tmp_path):
    res = hb("run", "--suite", "standrd")
    assert res.returncode == 2 and "did you mean standard" in res.stderr
    res = hb("run", "--suite", "smoke", "--only", "colour=red")
    assert res.returncode == 2 and "KEY=VALUE" in res.stderr


def test_unknown_attack_in_suite_is_refused_before_anything_trains(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(KILL_SUITE.replace('"p2p"]', '"pgd_typo"]').replace("killme", "typo"))
    res = hb("run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--cache",
             str(tmp_path / "c"), "--only", "attack=clean,pgd_typo")
    assert res.returncode == 2
    assert "unknown attack 'pgd_typo'" in res.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_validate_reports_json_path_of_violations(smoke_run, tmp_path):
    root, _, _ = smoke_run
    good = root / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/clean.json"
    rec = json.loads(good.read_text())
    rec["metrics"]["clean_map"] = 1.7
    (tmp_path / "bad.json").write_text(json.dumps(rec))
    (tmp_path / "broken.json").write_text("{not json")
    res = hb("validate", str(tmp_path))
    assert res.returncode == 1
    assert "$.metrics.clean_map: 1.7 is greater than the maximum of 1" in res.stdout
    assert "broken.json: not a readable JSON record" in res.stdout


def test_list_shows_plugins_datasets_backbones_and_methods():
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0
    for word in ("center_pgd", "vanilla", "mnist_multi", "resnet50", "dpsh", "standard"):
        assert word in result.output


def test_report_is_byte_identical_and_draws_every_figure(smoke_run, tmp_path):
    root, _, first = smoke_run
    assert first.returncode == 0, first.stderr
    outs = []
    for name in ("a", "b"):
        done = hb("report", "--results", str(root / "results"), "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        outs.append({str(p.relative_to(tmp_path / name)): p.read_bytes()
                     for p in sorted((tmp_path / name).rglob("*")) if p.is_file()})
    assert outs[0] == outs[1]
    files = set(outs[0])
    assert {"README.md", "index.html", "smoke-v1_mnist-5k-v1_16b_eps0.3.csv"} <= files
    plots = "plots/smoke-v1_mnist-5k-v1_16b/dpsh-small_cnn_vanilla"
    for kind in ("pr", "pn", "tsne"):
        for ext in ("png", "svg"):
            assert f"{plots}_{kind}.{ext}" in files
            assert len(outs[0][f"{plots}_{kind}.{ext}"]) > 5000
    board = outs[0]["README.md"].decode()
    for col in ("clean mAP", r"hag mAP", r"center\_pgd mAP", r"targeted\_pgd t\-mAP",
                r"worst\-case mAP"):
        assert col in board
    assert r"| 1 | dpsh\-small\_cnn | vanilla |" in board


def test_report_refuses_a_malformed_record(smoke_run, tmp_path):
    root, _, _ = smoke_run
    bad = tmp_path / "results"
    src = root / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/hag.json"
    rec = json.loads(src.read_text())
    del rec["metrics"]
    (bad / "x").mkdir(parents=True)
    (bad / "x/hag.json").write_text(json.dumps(rec))
    done = hb("report", "--results", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "hag.json" in done.stderr and "metrics" in done.stderr
    assert not (tmp_path / "out").exists()


def test_reproduce_recomputes_bit_for_bit_and_catches_a_changed_number(smoke_run, tmp_path):
    root, _, first = smoke_run
    assert first.returncode == 0
    # the same machine and seed: every metric identical (models reused from the run's cache)
    same = hb("reproduce", str(root / "results"), "--scratch", str(tmp_path / "a"),
              "--cache", str(root / "cache"))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "5 cells recomputed" in same.stdout and "all metrics within 1e-09" in same.stdout
    # a published number that is not what the cell computes is caught
    rec_path = root / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/hag.json"
    tampered = tmp_path / "pub" / "hag.json"
    tampered.parent.mkdir()
    rec = json.loads(rec_path.read_text())
    rec["metrics"]["map"] = min(1.0, rec["metrics"]["map"] + 0.01)
    tampered.write_text(json.dumps(rec))
    bad = hb("reproduce", str(tampered), "--scratch", str(tmp_path / "b"),
             "--cache", str(root / "cache"))
    assert bad.returncode == 1 and "DIFFERS" in bad.stdout and "1 metrics outside" in bad.stdout


def test_a_record_of_another_plugin_version_is_recomputed(smoke_results, tmp_path):
    """The config hash holds the suite's settings; a record computed by another version of its
    attack (a version bump means its results changed) is recomputed, the others are reused."""
    import shutil

    from inprocess import hb  # tests/inprocess.py

    shutil.copytree(smoke_results / "results", tmp_path / "results")
    shutil.copytree(smoke_results / "cache", tmp_path / "cache")
    folder = tmp_path / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"
    rec = json.loads((folder / "hag.json").read_text())
    rec["attack"]["version"] = 0
    (folder / "hag.json").write_text(json.dumps(rec))
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    done = hb("run", "--suite", "smoke", "--results", tmp_path / "results", "--cache",
              tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "attack hag is version 1 now, the record's is version 0" in done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    assert [n for n in before if after[n] != before[n]] == ["hag.json"]
    assert json.loads((folder / "hag.json").read_text())["attack"]["version"] == 1
