"""The ranking-only threat model, enforced by the harness against plugins that try to break it:
a ranking attack runs in a process that never holds the model (a closure on the oracle leads
nowhere), declares nothing of the model or the database (the suite check refuses it), and stays
within its query budget; a plugin that says it is black-box gets the oracle in place of the
model. Each fails its own cell (or its suite) with one line naming it, and `selfcheck` fails
each."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugin_faults import FOLDER, HEAD, install, snapshot  # tests/faults

CASES = {
    "closure_ranking": "attack 'closure_ranking': AttributeError",
    "overspend": "sent more than its budget of 10 queries for one image",
    "fake_blackbox": "attack fake_blackbox sent more than its budget of 0 queries",
}


@pytest.fixture(scope="module")
def ranking_run(smoke_results, tmp_path_factory):
    """The hostile ranking and black-box attacks beside ranking_blackbox, on the smoke run's
    vanilla model (its cache copied), in one run."""
    root = tmp_path_factory.mktemp("ranking")
    env = install(root / "site")
    shutil.copytree(smoke_results / "cache", root / "cache")
    suite = root / "hostile-ranking.toml"
    text = HEAD.format(name="hostile-ranking", defenses='["vanilla"]',
                       attacks=json.dumps([*CASES, "ranking_blackbox"]))
    text = text.replace('worst_case = ["hag"]', 'worst_case = ["ranking_blackbox"]') \
        .replace("[attack.hag]\nsteps = 5\n", "")
    suite.write_text(text.replace("queries = 64", "queries = 8") +
                     "\n[attack.ranking_blackbox]\nqueries = 20\n")
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite),
                          "--results", str(root / "results"), "--cache", str(root / "cache")],
                         capture_output=True, text=True, env=env, timeout=600)
    return root, res, env


@pytest.mark.parametrize("attack", sorted(CASES))
def test_a_hostile_ranking_attack_fails_its_own_cell(attack, ranking_run):
    root, res, _ = ranking_run
    assert res.returncode == 1, res.stderr
    rec = json.loads((root / "results" / f"hostile-ranking-v1/{FOLDER}/vanilla/"
                                          f"{attack}.json").read_text())
    assert rec["status"] == "failed" and CASES[attack] in rec["error"], rec["error"]
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("failed ")
            and f"/{attack}.json:" in ln]
    assert len(line) == 1 and "Traceback" not in res.stderr


def test_the_honest_ranking_attack_keeps_its_budget_and_reads_no_gradient(ranking_run):
    root, res, _ = ranking_run
    rec = json.loads((root / "results" / f"hostile-ranking-v1/{FOLDER}/vanilla/"
                                          "ranking_blackbox.json").read_text())
    assert rec["status"] == "ok", rec["error"]
    assert 0 < rec["cost"]["queries_max"] <= 20 and rec["cost"]["backward_images"] == 0
    assert rec["cost"]["forward_images"] >= rec["cost"]["queries_mean"] * 8


def test_a_ranking_attack_declaring_database_codes_is_refused_by_the_suite(ranking_run):
    root, _, env = ranking_run
    suite = root / "reads-db.toml"
    suite.write_text(HEAD.format(name="reads-db", defenses='["vanilla"]',
                                 attacks='["ranking_reads_db"]')
                     .replace('"hag"', '"ranking_reads_db"').replace("[attack.hag]\nsteps = 5\n", ""))
    before = snapshot(root / "results")
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite),
                          "--results", str(root / "results"), "--cache", str(root / "cache")],
                         capture_output=True, text=True, env=env, timeout=300)
    errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("error:")]
    assert res.returncode == 2 and len(errors) == 1, res.stderr
    assert "ranking_reads_db" in errors[0] and "database_codes" in errors[0]
    assert snapshot(root / "results") == before


@pytest.mark.parametrize("attack", ["closure_ranking", "ranking_reads_db", "overspend",
                                    "fake_blackbox"])
def test_selfcheck_fails_a_hostile_ranking_attack(attack, ranking_run):
    _, _, env = ranking_run
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "selfcheck", "--attack",
                          attack], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL" in res.stdout and "Traceback" not in res.stderr


def test_sandbox_messages_are_never_unpickled():
    """What a sandboxed attack sends back is read as tensors and plain values: a pickled
    object that would run code is refused."""
    import io
    import pickle

    from hashbench.errors import PluginError
    from hashbench.harness.sandbox import _load

    class Boom:
        def __reduce__(self):
            return (Path("/tmp/hashbench-sandbox-pwned").write_text, ("x",))

    payload = io.BytesIO()
    pickle.dump(("done", Boom()), payload)
    with pytest.raises(PluginError, match="other than tensors and plain values"):
        _load(payload.getvalue())
    assert not Path("/tmp/hashbench-sandbox-pwned").exists()
