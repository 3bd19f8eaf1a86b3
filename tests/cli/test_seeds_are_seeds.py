"""Seeds are seeds: a row's seeds count only when each is a model of its own trained under that
seed. The same weights handed in under several seeds are one model with an attack-draw
interval, never ranked; models trained per seed and declared so are ranked with a
training-variance interval. The warning before a call says what the row will be after it."""

import csv
import warnings

import pytest
import torch
from inprocess import hb  # tests/inprocess.py
from torch import nn

import hashbench

SUITE = """
name = "seeds-check"
version = 1
seeds = [0, 1]
worst_case = ["hag"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag"]
queries = 32

[defense.vanilla]
epochs = 1
optimizer = "adam"
lr = 0.001
weight_decay = 0.0

[attack.hag]
steps = 3
"""


def mlp(seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    path = tmp_path_factory.mktemp("seeds") / "seeds-check.toml"
    path.write_text(SUITE)
    return path


def hand_in(model, name, seed, tmp_path, suite, **more):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = hashbench.benchmark(model, "mnist", name=name, suite=str(suite), seed=seed,
                                 results=tmp_path / "r", cache=tmp_path / "c", quiet=True,
                                 **more)
    return ev, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def board_row(tmp_path, name: str) -> dict:
    res = hb("report", "--results", tmp_path / "r", "--out", tmp_path / "board", "--no-plots")
    assert res.returncode == 0, res.stderr
    (path,) = (tmp_path / "board").glob("seeds-check*.csv")
    rows = {r["model"]: r for r in csv.DictReader(path.open())}
    return rows[f"external-{name}"]


def test_one_model_under_two_seeds_is_one_model_and_unranked(tmp_path, suite):
    model = mlp(0)
    _, first = hand_in(model, "same", 0, tmp_path, suite)
    assert any("seeds 1 of the suite's 0, 1 not evaluated" in w for w in first), first
    ev, second = hand_in(model, "same", 1, tmp_path, suite)
    assert any("1 model under 2 seeds" in w and "attack draws" in w for w in second), second
    assert "1 model under 2 seeds" in ev.row and "unranked" in str(ev)
    row = board_row(tmp_path, "same")
    assert row["rank"] == "" and "1 model under 2 seeds" in row["provisional"]
    assert row["interval"] == "attack draws (one model)"


def test_models_trained_per_seed_and_declared_are_ranked(tmp_path, suite):
    hand_in(mlp(0), "trained", 0, tmp_path, suite, trained_seed=0)
    ev, said = hand_in(mlp(1), "trained", 1, tmp_path, suite, trained_seed=1)
    assert not said and "a ranked row" in ev.row and "seeds (training and attacks)" in ev.row
    row = board_row(tmp_path, "trained")
    assert row["rank"] != "" and row["provisional"] == ""
    assert row["interval"] == "seeds (training and attacks)"


def test_different_models_without_a_declared_training_seed_are_not_ranked(tmp_path, suite):
    hand_in(mlp(0), "undeclared", 0, tmp_path, suite)
    ev, said = hand_in(mlp(1), "undeclared", 1, tmp_path, suite)
    assert any("not declared" in w for w in said), said
    assert board_row(tmp_path, "undeclared")["rank"] == ""
