"""Suites: seeds, group budgets, and where their records go."""

from dataclasses import replace
from pathlib import Path

from hashbench.cells import record_path
from hashbench.records import config_hash
from hashbench.suites import load_suite

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
