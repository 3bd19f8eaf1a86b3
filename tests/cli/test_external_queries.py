"""External evaluations: adversarial queries made by any tool are checked, scored and recorded."""

import json
import os
import subprocess
import sys

import pytest
import torch

from hashbench.data import load_dataset


def hb(*args):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=600)


@pytest.fixture(scope="module")
def clean():
    return load_dataset("mnist").query.images(torch.arange(32))


def evaluate(tmp_path, adv, *extra):
    path = tmp_path / "adv.pt"
    torch.save(adv, path)
    return hb("evaluate-queries", "--suite", "smoke", "--dataset", "mnist", "--defense",
              "vanilla", "--queries", str(path), "--name", "noise", "--results",
              str(tmp_path / "results"), "--cache", str(tmp_path / "cache"), *extra)


def test_in_budget_queries_are_scored_and_recorded_as_external(tmp_path, clean):
    g = torch.Generator().manual_seed(0)
    adv = (clean + 0.3 * torch.randn(clean.shape, generator=g).sign()).clamp(0, 1)
    done = evaluate(tmp_path, adv, "--targeted")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/external-noise.json"
    rec = json.loads(path.read_text())
    assert rec["attack"]["external"] is True and rec["attack"]["name"] == "external:noise"
    assert rec["cell"]["queries"] == 32 and rec["metrics"]["linf_max"] <= 0.3 + 1e-6
    assert 0.0 <= rec["metrics"]["map"] <= 1.0 and "t_map" in rec["metrics"]
    assert len(rec["attack"]["params"]["sha256"]) == 64
    assert hb("validate", str(tmp_path / "results")).returncode == 0
    board = tmp_path / "board"
    assert hb("report", "--results", str(tmp_path / "results"), "--out", str(board),
              "--no-plots").returncode == 0
    assert "queries made outside hashbench" in (board / "README.md").read_text()


def test_queries_beyond_eps_are_refused_and_nothing_is_written(tmp_path, clean):
    adv = (clean + 0.35).clamp(0, 1)
    done = evaluate(tmp_path, adv)
    assert done.returncode == 2
    assert "exceeded the l-inf budget" in done.stderr and "adv.pt" in done.stderr
    assert not (tmp_path / "results").exists()


def test_wrong_shape_and_non_tensor_files_are_refused(tmp_path, clean):
    done = evaluate(tmp_path, clean[:, :, :20])
    assert done.returncode == 2 and "expected a float tensor (N, 1, 28, 28)" in done.stderr
    done = evaluate(tmp_path, {"x": clean})
    assert done.returncode == 2 and "expected one float tensor" in done.stderr
