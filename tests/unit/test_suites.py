"""Suites: seeds, group budgets, and where their records go."""

from dataclasses import replace
from pathlib import Path

import pytest

from hashbench.errors import ConfigError
from hashbench.harness.cells import record_path
from hashbench.harness.suites import load_suite
from hashbench.records.io import config_hash

SUITE = """
name = "seeded"
version = 2
seeds = [0, 1, 2]
worst_case = ["hag"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla", "cgat"]
attacks = ["hag"]
budget = 0.2
"""


def test_every_seed_is_a_cell_with_its_own_path_and_hash(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    cells = load_suite(str(path)).cells()
    assert sorted({c.seed for c in cells}) == [0, 1, 2] and len(cells) == 3 * 2 * 3
    paths = {record_path(Path("r"), c, 0.3) for c in cells}
    assert len(paths) == len(cells)  # no two cells share a record
    c = next(c for c in cells if c.seed == 1 and c.defense == "cgat" and c.attack == "hag")
    assert record_path(Path("r"), c, 0.3) == Path("r/seeded-v2/mnist/dpsh-small_cnn-16b/cgat/"
                                                   "seed1/eps0.2/hag.json")
    assert c.train_eps == 0.2 and c.eps == 0.2
    hashes = {config_hash(x.to_dict()) for x in cells}
    assert len(hashes) == len(cells)


def test_seed_override_never_writes_over_the_file_seed():
    suite = load_suite("standard-v1")
    assert suite.with_seed(suite.seed) is suite  # the file's own seed: the published paths
    base = suite.cells()[0]
    other = suite.with_seed(1).cells()[0]
    assert record_path(Path("r"), base, 0.3) != record_path(Path("r"), other, 0.3)
    assert "seed1" in str(record_path(Path("r"), other, 0.3))


def test_v1_cells_keep_their_config_hash():
    """Fields added for seeds and budgets stay out of a v1 cell's dict (and so its hash)."""
    cell = load_suite("standard-v1").cells()[0]
    d = cell.to_dict()
    assert "train_eps" not in d and "seed_in_path" not in d
    assert replace(cell, seed_in_path=True).to_dict() == d


def test_a_parent_other_than_vanilla_is_trained_with_its_own_suite_section(tmp_path, monkeypatch):
    """A defense fine-tuning CgAT (not vanilla): its cells carry CgAT's section of the suite,
    the parent's identity is built from it, and the parent is the suite's own CgAT model."""
    from hashbench.api import Defense
    from hashbench.data import load_dataset
    from hashbench.harness.provision import Provisioner
    from hashbench.harness.store import ModelStore
    from hashbench.registry import defenses

    real_get, real_entry = defenses.get, defenses.entry
    cgat = real_get("cgat")

    class AfterCgAT(cgat):
        name, starts_from = "after_cgat", "cgat"

    assert issubclass(AfterCgAT, Defense)
    monkeypatch.setattr(defenses, "get", lambda n: AfterCgAT if n == "after_cgat" else real_get(n))
    monkeypatch.setattr(defenses, "entry", lambda n: real_entry("cgat" if n == "after_cgat" else n))
    path = tmp_path / "s.toml"
    path.write_text(SUITE.replace('"vanilla", "cgat"', '"vanilla", "cgat", "after_cgat"')
                    + "[defense.cgat]\nepochs = 3\nadv_weight = 2.0\n"
                    + "[defense.after_cgat]\nepochs = 1\n")
    cells = load_suite(str(path)).cells()
    after = next(c for c in cells if c.defense == "after_cgat" and c.seed == 0)
    own = next(c for c in cells if c.defense == "cgat" and c.seed == 0)
    assert after.parent_params == {"cgat": {"epochs": 3, "adv_weight": 2.0}}
    assert after.params_of("cgat") == own.defense_params and own.parent_params == {}
    assert "parent_params" not in own.to_dict()  # cells with a vanilla parent keep their hash
    prov = Provisioner(ModelStore(tmp_path / "cache"), torch_cpu())
    data = load_dataset("mnist")
    ident = prov.identity(after, data, "after_cgat")
    assert ident.parent.key == prov.identity(own, data, "cgat").key
    assert ident.parent.ref["params"]["adv_weight"] == 2.0


def torch_cpu():
    import torch

    return torch.device("cpu")


def test_the_black_box_worst_case_takes_only_black_box_attacks(tmp_path):
    from hashbench.harness.suites import BLACKBOX_WORST_CASE, load_suite

    text = """name = "bb"
version = 1
blackbox_worst_case = [%s]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag", "ranking_blackbox", "transfer_arch"]
"""
    path = tmp_path / "bb.toml"
    path.write_text(text % '"ranking_blackbox", "transfer_arch"')
    cells = load_suite(str(path)).cells()
    bb = [c for c in cells if c.attack == BLACKBOX_WORST_CASE]
    assert len(bb) == 1 and bb[0].worst_case_of == ("ranking_blackbox", "transfer_arch")
    path.write_text(text % '"hag"')
    with pytest.raises(ConfigError, match="blackbox_worst_case names 'hag', which reads"):
        load_suite(str(path))


def test_blackbox_seeds_first_runs_the_black_box_attacks_at_the_first_seed_only(tmp_path):
    from hashbench.harness.suites import BLACKBOX_WORST_CASE, WORST_CASE

    text = """name = "bb"
version = 1
seeds = [4, 0, 7]
worst_case = ["hag"]
blackbox_worst_case = ["ranking_blackbox"]
%s

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag", "ranking_blackbox"]
"""
    path = tmp_path / "bb.toml"
    path.write_text(text % 'blackbox_seeds = "first"')
    suite = load_suite(str(path))
    got = {(c.seed, c.attack) for c in suite.cells()}
    for seed in (4, 0, 7):  # the white-box worst case at every seed
        assert {(seed, "clean"), (seed, "hag"), (seed, WORST_CASE)} <= got
    bb = {(s, a) for s, a in got if a in ("ranking_blackbox", BLACKBOX_WORST_CASE)}
    assert bb == {(4, "ranking_blackbox"), (4, BLACKBOX_WORST_CASE)}  # the file's first seed
    # a run of one other seed (hashbench run --seed 7) leaves them out too
    assert {c.attack for c in suite.with_seed(7).cells()} == {"clean", "hag", WORST_CASE}
    path.write_text(text % "")  # the default: every seed
    assert sum(c.attack == "ranking_blackbox" for c in load_suite(str(path)).cells()) == 3
    path.write_text((text % 'blackbox_seeds = "first"').replace(
        'worst_case = ["hag"]', 'worst_case = ["hag", "ranking_blackbox"]'))
    with pytest.raises(ConfigError, match="would leave ranking_blackbox out of the worst case"):
        load_suite(str(path))
    path.write_text((text % 'blackbox_seeds = "first"').replace(
        'blackbox_worst_case = ["ranking_blackbox"]', ""))
    with pytest.raises(ConfigError, match="without a blackbox_worst_case"):
        load_suite(str(path))


def test_a_group_text_budget_reaches_text_attacks_training_and_keys(tmp_path):
    """``text_budget`` sets the tags a group's text attacks may flip (the plan's budget, the
    record's text_flips) and trains its adversarial defenses at it (another model key, but not
    vanilla's); unset, the cells' dicts and hashes are what they were."""
    from hashbench.data import load_dataset
    from hashbench.harness.plan import plan_cell
    from hashbench.harness.provision import Provisioner
    from hashbench.harness.store import ModelStore

    text = (Path(__file__).parents[2] / "hashbench/suites/crossmodal_smoke.toml").read_text() \
        .replace('name = "crossmodal_smoke"', 'name = "text_budget"')
    plain = tmp_path / "plain.toml"
    plain.write_text(text)
    budget = tmp_path / "budget.toml"
    budget.write_text(text.replace('defenses = ["cm_cgat"]',
                                   'defenses = ["cm_cgat"]\ntext_budget = 5'))
    data = load_dataset("mnist_multi")

    def cell(path, defense, attack):
        return next(c for c in load_suite(str(path)).cells() if c.defense == defense
                    and c.attack == attack and c.method == "dcmh")

    before, after = cell(plain, "cm_cgat", "text_flip"), cell(budget, "cm_cgat", "text_flip")
    assert "text_flips" not in before.to_dict() and after.text_flips == 5
    assert plan_cell(before, data, tmp_path).budget.params() == {"flips": data.text_flips}
    assert plan_cell(after, data, tmp_path).budget.params() == {"flips": 5}
    assert data.text_flips != 5
    prov = Provisioner(ModelStore(tmp_path / "cache"), torch_cpu())
    assert prov.identity(after, data, "cm_cgat").key != prov.identity(before, data, "cm_cgat").key
    assert prov.identity(after, data, "cm_vanilla").key == \
        prov.identity(before, data, "cm_vanilla").key
    image = tmp_path / "image.toml"
    image.write_text(SUITE.replace('defenses = ["vanilla", "cgat"]',
                                   'defenses = ["vanilla", "cgat"]\ntext_budget = 3'))
    with pytest.raises(ConfigError, match=r"groups\[0\].text_budget is set on an image group"):
        load_suite(str(image))
