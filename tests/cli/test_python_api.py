"""hashbench.benchmark: a user's own nn.Module (not a plugin) measured in a few lines, its records
valid and ranked by `hashbench report` beside the suite's rows."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import hashbench
from hashbench.errors import ConfigError


class TinyHasher(nn.Module):
    """A user's model: images in [0,1] -> 16 real outputs (no alpha argument, no encode)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 16))
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)

    def forward(self, x):
        return self.net(x)


def fitted() -> nn.Module:
    from hashbench.data import load_dataset

    data = load_dataset("mnist")
    model = TinyHasher()
    x, y = data.train.images(torch.arange(1000)), data.train.labels[:1000]
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(30):
        u = torch.tanh(model(x))
        loss = (u @ u.T / 16 - ((y @ y.T > 0).float() * 2 - 1)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_a_plain_module_is_evaluated_in_five_lines_and_ranked(smoke_results, tmp_path):
    shutil.copytree(smoke_results / "results", tmp_path / "results")
    shutil.copytree(smoke_results / "cache", tmp_path / "cache")
    model = fitted()
    result = hashbench.benchmark(model, "mnist", suite="smoke", name="tiny",
                                results=tmp_path / "results", cache=tmp_path / "cache")
    assert result.ok, str(result)
    assert result.clean_map > result.random_map + 0.2
    assert result.worst_case_map is not None and result.worst_case_map < result.clean_map
    table = result.to_pandas()
    assert list(table["attack"]) == ["clean", "hag", "center_pgd", "targeted_pgd", "worst_case"]
    assert "worst_case" in str(result) and "tiny on mnist" in str(result)
    clean_line = next(ln for ln in str(result).splitlines() if ln.strip().startswith("clean"))
    lo, hi = result.clean_map_ci95
    assert lo < result.clean_map < hi and f"[{lo:.4f}, {hi:.4f}]" in clean_line
    assert table["map_ci_low"][0] == lo  # the clean interval in the table too
    rec = json.loads(result.records[1].read_text())
    # the board names the model in its model column; its defense column says it was handed in
    assert "/external-tiny-16b/handed-in/" in result.records[1].as_posix()
    assert rec["model"]["defense"]["third_party"] is True
    assert rec["model"]["defense"]["distribution"] == "python-api"
    # the record names the suite file that measured it by its bytes' hash
    smoke_file = Path(hashbench.__file__).parent / "suites" / "smoke.toml"
    assert rec["suite"] == {"name": "smoke", "version": 1,
                            "file_sha256": hashlib.sha256(smoke_file.read_bytes()).hexdigest()}

    assert subprocess.run([sys.executable, "-m", "hashbench.cli", "validate",
                           str(tmp_path / "results")], capture_output=True).returncode == 0
    rep = subprocess.run([sys.executable, "-m", "hashbench.cli", "report", "--results",
                          str(tmp_path / "results"), "--out", str(tmp_path / "board"),
                          "--no-plots"], capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr
    board = next((tmp_path / "board").glob("smoke*.csv")).read_text()
    assert "tiny" in board and "vanilla" in board  # one board, both rows

    again = hashbench.benchmark(model, "mnist", suite="smoke", name="tiny",
                               results=tmp_path / "results", cache=tmp_path / "cache")
    assert again.to_pandas().equals(table)  # finished records reused, the same numbers


def test_bad_inputs_to_benchmark_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="must match"):
        hashbench.benchmark(TinyHasher(), "mnist", suite="smoke", name="../escape",
                           results=tmp_path)
    with pytest.raises(ConfigError, match="has no image cells on 'cifar10'"):
        hashbench.benchmark(TinyHasher(), "cifar10", suite="smoke", results=tmp_path)
    with pytest.raises(ConfigError, match="did you mean hag"):
        hashbench.benchmark(TinyHasher(), "mnist", suite="smoke", attacks=["hagg"],
                           results=tmp_path)
    with pytest.raises(ConfigError, match="codes \\(N, K\\)"):
        hashbench.benchmark(nn.Flatten(0), "mnist", suite="smoke", results=tmp_path)
    # an evaluation the board cannot rank is said before anything runs
    with pytest.warns(UserWarning, match="provisional entry, unranked: fewer than the suite's "
                      "attacks"):
        hashbench.benchmark(TinyHasher(), "mnist", suite="smoke", attacks=["hag"],
                            results=tmp_path / "r", cache=tmp_path / "c", quiet=True)


def test_a_registered_attack_as_a_script_call_on_a_plain_module():
    from hashbench.data import load_dataset
    from hashbench.metrics import binarize

    data = load_dataset("mnist")
    model = fitted()
    x = data.query.images(torch.arange(32))
    with torch.no_grad():
        db = binarize(model(data.database.images(torch.arange(len(data.database)))))
    atk = hashbench.attack("center_pgd", eps=0.3, steps=20)
    x_adv = atk(model, x, data.query.labels[:32], database=(db, data.database.labels))
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    with torch.no_grad():
        flipped = (binarize(model(x_adv)) != binarize(model(x))).float().mean()
    assert flipped > 0.2  # it really attacks the plain module
    assert torch.equal(x_adv, atk(model, x, data.query.labels[:32],
                                  database=(db, data.database.labels)))  # seeded
    with pytest.raises(ConfigError, match="needs train_codes, train_labels"):
        atk(model, x, data.query.labels[:32])


def test_a_published_checkpoint_handed_back_in_meets_its_rows_draws(smoke_results, tmp_path,
                                                                   monkeypatch):
    """A suite's own checkpoint, loaded from the zoo and handed to benchmark, is measured on the
    draws of the cell that published it: every attack's mAP equals its record's, to the bit; its
    records say whose draws (draws_as). One weight changed, it is a model of its own."""
    from hashbench.zoo import build_zoo, load_model

    results = smoke_results / "results"
    build_zoo(results / "smoke-v1", smoke_results / "cache", tmp_path / "zoo")
    monkeypatch.setenv("HASHBENCH_ZOO", str(tmp_path / "zoo"))
    row = results / "smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"
    published = {p.stem: json.loads(p.read_text()) for p in row.glob("*.json")}
    threads = published["hag"]["provenance"]["cpu_kernels"]["threads"]  # the run's, as it ran
    model = load_model("smoke-v1/mnist/dpsh-small_cnn-16b/vanilla", 0)
    result = hashbench.benchmark(model, "mnist", suite="smoke", name="again", quiet=True,
                                threads=threads, results=tmp_path / "r", cache=tmp_path / "c")
    got = result.to_pandas().set_index("attack")["map"]
    for attack in ("hag", "center_pgd", "targeted_pgd", "worst_case"):
        assert got[attack] == published[attack]["metrics"]["map"], attack
    mine = json.loads(next((tmp_path / "r").rglob("center_pgd.json")).read_text())
    assert mine["model"]["defense"]["params"]["draws_as"] == "dpsh-small_cnn-16b/vanilla"
    model = load_model("smoke-v1/mnist/dpsh-small_cnn-16b/vanilla", 0)
    state = model.state_dict()
    first = next(iter(state))
    state[first] = state[first] + 1e-3
    model.load_state_dict(state)
    other = hashbench.benchmark(model, "mnist", suite="smoke", name="other", quiet=True,
                                threads=threads, attacks=["center_pgd"], results=tmp_path / "r2",
                                cache=tmp_path / "c")
    mine = json.loads(next((tmp_path / "r2").rglob("center_pgd.json")).read_text())
    assert "draws_as" not in mine["model"]["defense"]["params"]
    assert other.ok


def test_a_handed_in_row_needs_the_worst_cases_attacks_not_the_checks_beside_it():
    # standard v3 runs ranking_blackbox and transfer (the black-box column) and hash_aa at 2x
    # beside its worst case: a row is ranked without them, so the outlook must not ask for them
    from hashbench.harness.suites import load_suite
    from hashbench.python_api import _chosen_attacks, _templates, _worst_case_members

    templates = _templates(load_suite("standard").with_seed(0), "mnist", image_text=False)
    every, _ = _chosen_attacks(templates, None, "standard", "mnist")
    assert {"ranking_blackbox", "transfer"} <= set(every)
    assert _worst_case_members(templates, every) == ["hag", "center_pgd", "targeted_pgd",
                                                      "hash_aa"]


def test_a_process_on_other_cpu_kernels_is_warned(smoke_results, tmp_path, monkeypatch):
    # torch imported before the pinning variables were set runs the machine's own kernels: the
    # model is still measured, and the user learns why its digits may differ from the board's
    from hashbench import cpu_kernels

    monkeypatch.setattr(cpu_kernels, "mismatch", lambda: "torch runs AVX512 CPU kernels, not "
                        "the protocol's AVX2")
    with pytest.warns(UserWarning, match="AVX512 .* may then differ from the published rows'"):
        result = hashbench.benchmark(fitted(), "mnist", suite="smoke", name="kernels",
                                     attacks=["hag"], quiet=True, results=tmp_path / "r",
                                     cache=tmp_path / "c")
    assert result.ok
