"""The run's cost estimate, said before the first cell."""

from hashbench.data import load_dataset
from hashbench.harness.estimate import Estimate, estimate
from hashbench.harness.plan import plan_cell
from hashbench.harness.suites import load_suite


def test_a_suite_nothing_prices_says_so_instead_of_about_zero(tmp_path):
    # a new suite version's attacks have no published twin and an empty results folder holds
    # nothing measured: its worst cases (free) must not make the estimate read "about 0 s"
    suite = tmp_path / "fresh.toml"
    suite.write_text('name = "fresh"\nversion = 1\nworst_case = ["hag"]\n\n[[groups]]\n'
                     'datasets = ["mnist"]\nmethods = ["dpsh"]\nbackbones = ["small_cnn"]\n'
                     'bits = [16]\ndefenses = ["vanilla"]\nattacks = ["hag"]\n')
    data = load_dataset("mnist")
    plans = [plan_cell(c, data, tmp_path / "r") for c in load_suite(str(suite)).cells()]
    assert [p.measure for p in plans] == ["clean", "attack", "worst_case"]
    got = estimate(plans, set(), {}, 2, tmp_path / "r")
    assert got.seconds is None and got.attacking == 2
    assert got.line() == "3 cells and 0 models to train; no published cost to estimate the time from"


def test_the_line_counts_only_the_cells_that_attack():
    assert Estimate(10, 2, 125.0, 6, 8).line() == (
        "10 cells and 2 models to train: about 2 min on this machine (6 of the 8 that attack "
        "priced; the others not counted)")
    assert Estimate(10, 0, 30.0, 8, 8).line() == "10 cells and 0 models to train: about 30 s on " \
        "this machine"
