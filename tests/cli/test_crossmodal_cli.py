"""The image-text track as a user drives it: `hashbench run --suite crossmodal_smoke`, then
`validate` and `report` (I->T and T->I columns, a t-SNE map of both modalities)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# 3 methods x cm_vanilla x (i2t: clean, 3 attacks, worst case; t2i: clean, 2 attacks, worst
# case) + dcmh x cm_cgat x (i2t: clean, center_pgd, worst case; t2i: clean, text_flip, worst case)
CELLS = 3 * 9 + 6


def hb(*args):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cm")
    result = hb("run", "--suite", "crossmodal_smoke", "--results", str(root / "results"),
                "--cache", str(root / "cache"))
    return root, result


def load(root: Path, rel: str) -> dict:
    return json.loads((root / "results/crossmodal_smoke-v1/mnist_multi" / rel).read_text())


def test_crossmodal_smoke_writes_valid_records_in_both_directions(run):
    root, result = run
    assert result.returncode == 0, result.stderr
    assert len(list((root / "results").rglob("*.json"))) == CELLS
    assert hb("validate", str(root / "results")).returncode == 0
    hag = load(root, "dcmh-small_cnn-16b/cm_vanilla/i2t/hag.json")
    assert hag["metrics"]["direction"] == "i2t" and hag["metrics"]["linf_max"] <= 0.3 + 1e-6
    assert hag["model"]["method_plugin"]["name"] == "dcmh"
    assert hag["model"]["hash_params"] == {"gamma": 1.0, "eta": 1.0}
    flip = load(root, "ssah-small_cnn-16b/cm_vanilla/t2i/text_flip.json")
    assert flip["metrics"]["direction"] == "t2i" and flip["metrics"]["text_flips"] == 2
    assert 0 < flip["metrics"]["flips_max"] <= 2 and flip["attack"]["params"]["flips"] == 2
    assert "text_texts" in flip["dataset"]["hashes"]
    # the two directions of one model share its checkpoint
    assert hag["model"]["cache_key"] == load(
        root, "dcmh-small_cnn-16b/cm_vanilla/t2i/clean.json")["model"]["cache_key"]
    cgat = load(root, "dcmh-small_cnn-16b/cm_cgat/i2t/clean.json")
    assert cgat["cost"]["trained_models"] == 1  # cm_vanilla came from the first group's cache


def test_directions_score_the_right_codes(run):
    root, _ = run
    for method in ("dcmh", "ssah", "rmsh"):
        for direction in ("i2t", "t2i"):
            clean = load(root, f"{method}-small_cnn-16b/cm_vanilla/{direction}/clean.json")
            m = clean["metrics"]
            assert m["direction"] == direction and 0 < m["random_map"] < 0.3
            assert m["clean_map"] > m["random_map"]  # even two epochs learn something
    i2t = load(root, "dcmh-small_cnn-16b/cm_vanilla/i2t/worst_case.json")
    assert i2t["metrics"]["worst_case_of"] == ["center_pgd", "hag"]
    t2i = load(root, "dcmh-small_cnn-16b/cm_vanilla/t2i/worst_case.json")
    assert t2i["metrics"]["worst_case_of"] == ["text_flip"]
    side = np.load(root / "results/crossmodal_smoke-v1/mnist_multi/dcmh-small_cnn-16b/cm_vanilla"
                   "/t2i/text_flip.queries.npz")
    assert side["flips"].max() <= 2 and side["codes"].shape == (64, 16)


def test_report_has_both_directions_and_a_two_modality_map(run, tmp_path):
    import shutil

    root, _ = run
    # one row's records: every row draws three t-SNE maps, and the whole run's board takes 90 s
    row = "crossmodal_smoke-v1/mnist_multi/dcmh-small_cnn-16b/cm_vanilla"
    shutil.copytree(root / "results" / row, tmp_path / "results" / row)
    board = tmp_path / "board"
    out = hb("report", "--results", str(tmp_path / "results"), "--out", str(board))
    assert out.returncode == 0, out.stderr
    text = (board / "README.md").read_text()
    for column in ("I→T clean mAP", "T→I clean mAP", "I→T center\\_pgd mAP",
                   "T→I text\\_flip mAP", "I→T worst\\-case mAP", "text flips"):
        assert column in text, column
    plots = {p.name for p in (board / "plots").rglob("*.png")}
    assert "dcmh-small_cnn_cm_vanilla_tsne_modalities.png" in plots
    assert "dcmh-small_cnn_cm_vanilla_t2i_pr.png" in plots


def test_a_users_image_text_pair_is_benchmarked_beside_the_suite(run, tmp_path):
    """hashbench.benchmark on (image_net, text_net), plain modules: records in both directions,
    valid, and ranked by `report` on the crossmodal boards beside the suite's rows."""
    import shutil

    import torch
    from torch import nn

    import hashbench
    from hashbench.data import load_dataset

    root, result = run
    assert result.returncode == 0, result.stderr
    shutil.copytree(root / "results", tmp_path / "results")
    shutil.copytree(root / "cache", tmp_path / "cache")
    data = load_dataset("mnist_multi")
    g = torch.Generator().manual_seed(5)
    image_net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(data.image_shape)), 16))
    text_net = nn.Linear(data.text_dim, 16)
    for p in [*image_net.parameters(), *text_net.parameters()]:
        p.data.copy_(torch.randn(p.shape, generator=g) * 0.05)
    idx = torch.arange(800)
    x, t, y = data.train.images(idx), data.train.texts[idx], data.train.labels[idx]
    sim = (y @ y.T > 0).float() * 2 - 1
    opt = torch.optim.Adam([*image_net.parameters(), *text_net.parameters()], 3e-3)
    for _ in range(40):  # a cross-modal pairwise fit: image codes agree with text codes
        u, v = torch.tanh(image_net(x)), torch.tanh(text_net(t))
        loss = (u @ v.T / 16 - sim).pow(2).mean() + (u - v).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    out = hashbench.benchmark((image_net, text_net), "mnist_multi", suite="crossmodal_smoke",
                              name="my_pair", results=tmp_path / "results",
                              cache=tmp_path / "cache")
    assert out.ok, str(out)
    assert set(out) == {"i2t", "t2i"}
    for ev in out.values():
        assert ev.clean_map > ev.random_map + 0.1, str(out)
        assert ev.worst_case_map < ev.clean_map, str(out)
    assert {a.attack for a in out["t2i"].attacks} == {"text_flip", "text_flip_targeted",
                                                      "worst_case"}
    table = out.to_pandas()
    assert set(table["direction"]) == {"i2t", "t2i"} and "T->I" in str(out)
    flip = json.loads((tmp_path / "results/crossmodal_smoke-v1/mnist_multi/external-my_pair-16b/"
                       "handed-in/t2i/text_flip.json").read_text())
    assert flip["metrics"]["flips_max"] <= 2
    assert flip["model"]["defense"]["distribution"] == "python-api"
    assert hb("validate", str(tmp_path / "results")).returncode == 0
    rep = hb("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "board"),
             "--no-plots")
    assert rep.returncode == 0, rep.stderr
    boards = "".join(p.read_text() for p in (tmp_path / "board").glob("crossmodal_smoke*.csv"))
    assert "my_pair" in boards and "cm_vanilla" in boards
