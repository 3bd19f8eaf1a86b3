"""Plugins that break the contract, installed as a third party would be, run through
`hashbench run`: each one fails its own cell with one line naming it, the run goes on, later
cells of the same model come out exactly as in a clean run, and no finished record changes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"
FOLDER = "mnist/dpsh-small_cnn-16b"

# attack -> what its cell's error must say
ATTACK_CASES = {
    "raise_type": "attack 'raise_type' raised TypeError",
    "raise_key": "attack 'raise_key' raised KeyError: 'missing-key'",
    "mutate_weights": "attack 'mutate_weights' changed the model it attacks",
    "leave_train_mode": "attack 'leave_train_mode' changed the model it attacks",
    "global_torch_rng": "attack 'global_torch_rng' used the global random generator of torch",
    "reseed": "attack 'reseed' used the global random generator of torch",
    "numpy_rng": "attack 'numpy_rng' used the global random generator of numpy",
    "python_rng": "attack 'python_rng' used the global random generator of Python's random",
    "hang": "ran past its time limit of 8 s",
    "exit_attack": "attack 'exit_attack' called sys.exit(3)",
    "nan_out": "attack nan_out returned non-finite pixels",
    "returns_none": "attack returns_none returned NoneType",
    "outside_ball": "attack outside_ball exceeded the l-inf budget",
    "wrong_shape": "attack wrong_shape returned (",
    "multiline_error": "attack 'multiline_error' raised RuntimeError: first line second line",
}
DEFENSE_CASES = {
    "fit_none": "defense 'fit_none': fit returned NoneType, not the trained torch.nn.Module",
    "fit_nan": "defense 'fit_nan': fit returned a model with non-finite weights",
    "fit_key_error": "defense 'fit_key_error' raised KeyError: 'b'",
    "fit_hang": "ran past its time limit of 8 s",
}

HEAD = """
name = "{name}"
version = 1
seed = 0
cell_timeout = 8
worst_case = ["hag"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = {defenses}
attacks = {attacks}
queries = 64

[defense.vanilla]
epochs = 2
optimizer = "adam"
lr = 0.001
weight_decay = 0.0

[attack.hag]
steps = 5
"""


def install(site: Path) -> dict:
    info = site / "hostile_plugins-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-plugins\n"
                                   "Version: 0.0.1\n")
    sys.path.insert(0, str(PLUGINS))
    try:
        import hostile_plugins as hp
    finally:
        sys.path.remove(str(PLUGINS))
    attr = {id(v): k for k, v in vars(hp).items() if isinstance(v, type)}
    lines = ["[hashbench.attacks]"] + [f"{n} = hostile_plugins:{attr[id(c)]}"
                                      for n, c in hp.ATTACKS.items()]
    lines += ["[hashbench.defenses]"] + [f"{n} = hostile_plugins:{attr[id(c)]}"
                                        for n, c in hp.DEFENSES.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    path = os.pathsep.join([str(site), str(PLUGINS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "250"}


def snapshot(results: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}


def metrics_of(path: Path) -> dict:
    return json.loads(path.read_text())["metrics"]


@pytest.fixture(scope="module")
def hostile_run(smoke_results, tmp_path_factory):
    """One run of every hostile attack (then hag) and one of every hostile defense, on copies
    of the smoke run's results and cache."""
    root = tmp_path_factory.mktemp("hostile")
    env = install(root / "site")
    shutil.copytree(smoke_results / "results", root / "results")
    shutil.copytree(smoke_results / "cache", root / "cache")
    before = snapshot(root / "results")
    runs = {}
    for kind, defenses, attacks in (
            ("attacks", ["vanilla"], [*ATTACK_CASES, "hag"]),
            ("defenses", ["vanilla", *DEFENSE_CASES], ["hag"])):
        suite = root / f"hostile-{kind}.toml"
        suite.write_text(HEAD.format(name=f"hostile-{kind}", defenses=json.dumps(defenses),
                                     attacks=json.dumps(attacks)))
        runs[kind] = subprocess.run(
            [sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite), "--results",
             str(root / "results"), "--cache", str(root / "cache")],
            capture_output=True, text=True, env=env, timeout=600)
    return root, runs, before


def failure_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("failed ")]


@pytest.mark.parametrize("attack", sorted(ATTACK_CASES))
def test_a_hostile_attack_fails_its_own_cell_only(attack, hostile_run):
    root, runs, before = hostile_run
    res = runs["attacks"]
    assert res.returncode == 1, res.stderr
    path = root / "results" / f"hostile-attacks-v1/{FOLDER}/vanilla/{attack}.json"
    rec = json.loads(path.read_text())
    assert rec["status"] == "failed"
    assert ATTACK_CASES[attack] in rec["error"], rec["error"]
    line = [ln for ln in failure_lines(res.stderr) if f"/{attack}.json:" in ln]
    assert len(line) == 1 and ATTACK_CASES[attack] in line[0], res.stderr
    assert "\x1b" not in res.stderr and "Traceback" not in res.stderr
    after = snapshot(root / "results")
    assert {p: after[p] for p in before} == before  # no finished record changed


def test_cells_after_hostile_attacks_match_a_clean_run(hostile_run, smoke_results):
    """Every hostile attack ran before hag on the same in-memory model: hag's numbers equal the
    smoke run's, so no weight change, mode change or RNG draw leaked into a later cell."""
    root, runs, _ = hostile_run
    hag = root / "results" / f"hostile-attacks-v1/{FOLDER}/vanilla/hag.json"
    ref = smoke_results / "results" / f"smoke-v1/{FOLDER}/vanilla/hag.json"
    assert json.loads(hag.read_text())["status"] == "ok"
    assert metrics_of(hag) == metrics_of(ref)
    # the worst case is over hag alone, so it is computed; every hostile cell failed
    assert f"{len(ATTACK_CASES)} failed" in runs["attacks"].stderr


@pytest.mark.parametrize("defense", sorted(DEFENSE_CASES))
def test_a_hostile_defense_fails_its_cells_and_trains_once(defense, hostile_run):
    root, runs, before = hostile_run
    res = runs["defenses"]
    assert res.returncode == 1, res.stderr
    folder = root / "results" / f"hostile-defenses-v1/{FOLDER}/{defense}"
    clean = json.loads((folder / "clean.json").read_text())
    assert clean["status"] == "failed" and DEFENSE_CASES[defense] in clean["error"]
    later = json.loads((folder / "hag.json").read_text())
    assert later["status"] == "failed" and "earlier in this run" in later["error"]
    assert all(ln.count("\n") == 0 for ln in failure_lines(res.stderr))
    after = snapshot(root / "results")
    assert {p: after[p] for p in before} == before
    vanilla = root / "results" / f"hostile-defenses-v1/{FOLDER}/vanilla/hag.json"
    assert json.loads(vanilla.read_text())["status"] == "ok"


def test_selfcheck_fails_a_plugin_that_reseeds_the_global_rng(tmp_path):
    env = install(tmp_path / "site")
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "selfcheck", "--attack",
                          "reseed"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 1
    row = next(ln for ln in res.stdout.splitlines() if "global RNG untouched" in ln)
    assert "FAIL" in row and "torch" in row


def test_a_defense_that_fails_to_train_is_not_trained_again_by_other_workers(smoke_results,
                                                                            tmp_path):
    """``--jobs 2``: the failed training is tried once, in the model phase; every cell of that
    model gets a failed record naming the error, and vanilla's cells are unharmed."""
    env = install(tmp_path / "site")
    shutil.copytree(smoke_results / "cache", tmp_path / "cache")
    suite = tmp_path / "jobs-defense.toml"
    suite.write_text(HEAD.format(name="jobs-defense", defenses='["vanilla", "fit_key_error"]',
                                 attacks='["hag"]'))
    res = subprocess.run(
        [sys.executable, "-m", "hashbench.cli", "run", "--suite", str(suite), "--jobs", "2",
         "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 1, res.stderr
    folder = tmp_path / "results" / f"jobs-defense-v1/{FOLDER}"
    for cell in ("clean", "hag", "worst_case"):
        rec = json.loads((folder / "fit_key_error" / f"{cell}.json").read_text())
        assert rec["status"] == "failed", cell
        if cell != "worst_case":
            assert "earlier in this run" in rec["error"], rec["error"]
            assert DEFENSE_CASES["fit_key_error"] in rec["error"], rec["error"]
    assert json.loads((folder / "vanilla/hag.json").read_text())["status"] == "ok"
