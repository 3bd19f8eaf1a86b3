"""The image-text track below the CLI: paired data, the text threat model and its attack engine,
the methods' pieces, and suite expansion into directions."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hashbench.methods.rmsh import gilbert_varshamov_margin, jaccard
from test_data import _write_lists

from hashbench.api import AttackContext, QueryBatch
from hashbench.data import load_dataset
from hashbench.data.literature import load_list_dataset
from hashbench.errors import ConfigError, DataError, ThreatModelError
from hashbench.harness.measures import make_attack
from hashbench.harness.runner import Runner
from hashbench.harness.suites import load_suite
from hashbench.harness.threat_model import check_text_adversarial
from hashbench.harness.work import RunOptions, RunSummary
from hashbench.kit.codes import center_codes
from hashbench.kit.optim import greedy_flips
from hashbench.models.crossmodal import CrossModalHashModel, CrossModalSpec, build_model
from hashbench.registry import attacks, methods

REPO = Path(__file__).resolve().parents[2]
# the image protocol of mnist_multi, as published in results/standard: adding tags must not move it
MNIST_MULTI_PROTOCOL = "7193a3329affca7427e92a42ae6abef266684bd5b7495ca678862733104be6ea"


def test_mnist_multi_pairs_every_image_with_its_tags():
    d = load_dataset("mnist_multi")
    assert d.has_texts and d.text_dim == 40 and d.text_flips == 2
    for split in (d.train, d.query, d.database):
        assert split.texts.shape == (len(split), 40)
        assert set(split.texts.unique().tolist()) <= {0.0, 1.0}
        # a label word is only ever present for a label the item has
        assert (split.texts[:, :10] <= split.labels).all()
    assert d.protocol_hash == MNIST_MULTI_PROTOCOL
    assert d.paired_protocol_hash != d.protocol_hash
    sub = d.query.subset(torch.tensor([3, 1]))
    assert torch.equal(sub.texts, d.query.texts[[3, 1]])


def test_list_dataset_text_matrices(tmp_path):
    folder = _write_lists(tmp_path)
    assert not load_list_dataset("nus_wide", tmp_path).has_texts
    rng = np.random.default_rng(0)
    sizes = {"train": 20, "test": 5, "database": 35}
    for stem, n in sizes.items():
        np.save(folder / f"{stem}_text.npy", (rng.random((n, 12)) < 0.3).astype(np.uint8))
    d = load_list_dataset("nus_wide", tmp_path)
    assert d.has_texts and d.text_dim == 12 and d.text_flips == 5
    assert d.query.texts.shape == (5, 12) and "query" in d.text_hashes
    (folder / "test_text.npy").unlink()
    with pytest.raises(DataError, match="text matrices are partial; add test_text.npy"):
        load_list_dataset("nus_wide", tmp_path)
    np.save(folder / "test_text.npy", np.ones((4, 12)))
    with pytest.raises(DataError, match=r"test_text.npy has shape \(4, 12\), expected \(5, T\)"):
        load_list_dataset("nus_wide", tmp_path)
    np.save(folder / "test_text.npy", np.full((5, 12), 2.0))
    with pytest.raises(DataError, match="values other than 0 and 1"):
        load_list_dataset("nus_wide", tmp_path)
    np.save(folder / "test_text.npy", np.ones((5, 11)))
    with pytest.raises(DataError, match="different widths"):
        load_list_dataset("nus_wide", tmp_path)


def test_text_budget_check():
    t = torch.tensor([[1.0, 0, 0, 1], [0, 0, 0, 0]])
    assert check_text_adversarial(t, t.clone(), 0, "x") == 0
    flipped = torch.tensor([[0.0, 1, 0, 1], [0, 0, 0, 1]])
    assert check_text_adversarial(t, flipped, 2, "x") == 2
    with pytest.raises(ThreatModelError, match="2 tags flipped > flips = 1"):
        check_text_adversarial(t, flipped, 1, "attack y")
    with pytest.raises(ThreatModelError, match="other than 0 and 1"):
        check_text_adversarial(t, t * 0.5, 4, "attack y")
    with pytest.raises(ThreatModelError, match="expected a tensor of"):
        check_text_adversarial(t, t[:1], 4, "attack y")


class Linear(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, t):
        return torch.tanh(t @ self.w)


def _brute_force(net, t, ref, flips):
    """The best loss over every tag vector within ``flips`` flips (tiny vocabularies only)."""
    dim = t.shape[0]
    best = float("inf")
    for mask in range(2 ** dim):
        bits = torch.tensor([(mask >> j) & 1 for j in range(dim)], dtype=torch.float32)
        if bits.sum() <= flips:
            cand = (t + bits) % 2
            best = min(best, float((net(cand[None]) * ref).mean()))
    return best


def test_greedy_flips_keeps_the_budget_and_finds_the_best_single_flip():
    gen = torch.Generator().manual_seed(0)
    net = Linear(torch.randn(8, 6, generator=gen))
    t = (torch.rand(16, 8, generator=gen) < 0.4).float()
    ref = torch.sign(torch.randn(16, 6, generator=gen))
    objective = lambda out: (out * ref.unsqueeze(1)).mean(-1)  # noqa: E731
    one = greedy_flips(net, t, objective, flips=1, candidates=8)
    check_text_adversarial(t, one, 1, "greedy")
    with torch.no_grad():
        for i in range(16):  # exact greedy: one flip is the brute-force optimum over one flip
            got = float((net(one[i:i + 1]) * ref[i]).mean())
            assert got <= _brute_force(net, t[i], ref[i], 1) + 1e-6
    three = greedy_flips(net, t, objective, flips=3, candidates=2)
    check_text_adversarial(t, three, 3, "greedy")
    clean = objective(net(t).unsqueeze(1)).squeeze(1)
    assert (objective(net(three).unsqueeze(1)).squeeze(1) <= clean + 1e-6).all()
    assert torch.equal(three, greedy_flips(net, t, objective, flips=3, candidates=2))


def test_text_attacks_are_text_attacks_with_a_flip_budget():
    for name in ("text_flip", "text_flip_targeted"):
        cls = attacks.get(name)
        assert cls.modality == "text"
        assert cls(flips=3).params.flips == 3
    assert attacks.get("center_pgd").modality == "image"


def test_text_flip_moves_a_text_query_away_from_its_center():
    spec = CrossModalSpec("dcmh", "small_cnn", 16, 1, 10, text_dim=40)
    model = CrossModalHashModel(spec, seed=0).eval()
    d = load_dataset("mnist_multi")
    t, y = d.query.texts[:32], d.query.labels[:32]
    bank_t = d.train.texts[:400]
    codes = model.text.encode(bank_t)
    attack = attacks.create("text_flip", flips=2)
    ctx = AttackContext(attack.needs, 0, "t", "attack text_flip", train_codes=codes,
                        train_labels=d.train.labels[:400])
    adv = attack.perturb(model.text, t, QueryBatch(index=torch.arange(32), labels=y), None, ctx)
    check_text_adversarial(t, adv, 2, "text_flip")
    ref = center_codes(y, codes, d.train.labels[:400])
    with torch.no_grad():
        before, after = (model.text(t) * ref).mean(), (model.text(adv) * ref).mean()
    assert after < before - 0.05


def test_gilbert_varshamov_margin_by_hand():
    # 2^4 / (1 + 4) = 3.2 >= 3 words, and 3 * (1 + 4 + 6) = 33 > 16: d = 2
    assert gilbert_varshamov_margin(4, 3) == 2
    assert gilbert_varshamov_margin(32, 55) == 10
    assert gilbert_varshamov_margin(8, 1) == 8
    a = torch.tensor([[1.0, 1, 0], [1, 0, 0]])
    assert torch.allclose(jaccard(a, a), torch.tensor([[1.0, 0.5], [0.5, 1.0]]))


def test_model_checkpoint_spec_round_trip():
    spec = CrossModalSpec("rmsh", "small_cnn", 16, 1, 10, text_dim=40)
    model = CrossModalHashModel(spec, seed=3)
    rebuilt = build_model(spec.to_dict(), pretrained=False)
    rebuilt.load_state_dict(model.state_dict())
    x, t = torch.rand(2, 1, 28, 28), (torch.rand(2, 40) < 0.2).float()
    model.eval(), rebuilt.eval()
    assert torch.equal(model.text(t), rebuilt.text(t)) and torch.equal(model(x), rebuilt(x))
    assert torch.equal(CrossModalHashModel(spec, seed=3).text.hash_layer.weight,
                       model.text.hash_layer.weight)


def test_methods_are_registered_plugins():
    assert {"dcmh", "ssah", "rmsh"} <= set(methods.names())
    assert methods.get("rmsh").kind == "method"


def test_image_text_suite_expands_into_both_directions():
    cells = load_suite("crossmodal-v1").cells()
    model = [c for c in cells if c.method == "dcmh" and c.defense == "cm_vanilla"]
    assert [(c.direction, c.attack) for c in model] == [
        ("i2t", "clean"), ("i2t", "hag"), ("i2t", "center_pgd"), ("i2t", "targeted_pgd"),
        ("i2t", "worst_case"), ("t2i", "clean"), ("t2i", "text_flip"),
        ("t2i", "text_flip_targeted"), ("t2i", "worst_case")]
    assert model[4].worst_case_of == ("hag", "center_pgd", "targeted_pgd")
    assert model[-1].worst_case_of == ("text_flip", "text_flip_targeted")
    cgat = next(c for c in cells if c.defense == "cm_cgat")
    assert cgat.vanilla_params["epochs"] == 30 and cgat.query_modality == "image"


def test_image_cells_keep_their_published_config_hashes(tmp_path):
    """The image-text fields stay out of image cells, so no published record goes stale."""
    runner = Runner(RunOptions(results_dir=REPO / "results", cache_dir=tmp_path))
    cells = load_suite("standard-v1").cells()
    checked = 0
    for cell in cells[:6]:
        item = runner.pending(cell, summary := RunSummary())
        path = REPO / "results" / "standard-v1" / cell.dataset / cell.model_id / cell.defense / \
            f"{cell.attack}.json"
        if path.is_file():
            assert item is None and summary.skipped == [path]
            assert "direction" not in json.loads(path.read_text())["cell"]
            checked += 1
    assert checked == 6


def test_modality_mismatches_are_one_line_errors(tmp_path):
    runner = Runner(RunOptions(results_dir=tmp_path / "r", cache_dir=tmp_path / "c"))
    data = load_dataset("mnist_multi")
    cell = next(c for c in load_suite("crossmodal_smoke").cells() if c.attack == "text_flip")
    with pytest.raises(ConfigError, match="perturbs image queries, but this cell attacks text"):
        make_attack(runner.work.plan(type(cell)(**{**cell.__dict__, "attack": "hag"}), data))
    image_cell = next(c for c in load_suite("smoke").cells() if c.attack == "hag")
    with pytest.raises(ConfigError, match="perturbs text queries.*text_attacks"):
        make_attack(runner.work.plan(type(image_cell)(**{**image_cell.__dict__,
                                                         "attack": "text_flip"}),
                                     load_dataset("mnist")))
    with pytest.raises(ConfigError, match="defense 'cgat' trains image hashing models.*cm_cgat"):
        runner.work.models.identity(cell, data, "cgat")
    mnist_cell = type(cell)(**{**cell.__dict__, "dataset": "mnist"})
    summary = RunSummary()
    assert runner.pending(mnist_cell, summary) is None
    assert "mnist has no tag vectors" in summary.unavailable["mnist (image-text)"]
