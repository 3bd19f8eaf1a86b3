"""What the published suites require of a ranked row, and what a run says before it starts
when its rows will not be ranked."""

from hashbench.harness.published import ranking_requirements, unranked
from hashbench.harness.suites import load_suite


def test_the_published_suites_require_their_attacks_and_seeds():
    req = ranking_requirements()
    seeds, attacks = req[("standard", 2, "mnist")]
    assert seeds == {0, 1, 2}
    assert attacks == {"": {"hag", "center_pgd", "targeted_pgd", "hash_aa"}}
    seeds, attacks = req[("standard", 1, "mnist")]
    assert seeds == {0} and attacks[""] == {"hag", "center_pgd", "targeted_pgd"}
    _, attacks = req[("crossmodal", 2, "mnist_multi")]
    assert set(attacks) == {"I→T ", "T→I "} and "text_flip" in attacks["T→I "]


def test_a_run_says_when_its_added_rows_will_be_provisional():
    suite = load_suite("standard").with_defenses(["cgat"], {})
    full = suite.cells()
    assert unranked(suite, full, ["cgat"]) == []
    one_seed = [c for c in full if c.seed == 0]
    assert unranked(suite, one_seed, ["cgat"]) == [
        "cgat: this run covers 1 of the suite's 3 seeds; its row is a provisional entry "
        "(unranked) until the results hold the rest"]
    no_ensemble = [c for c in full if c.attack not in ("hash_aa",)]
    assert "without hash_aa" in unranked(suite, no_ensemble, ["cgat"])[0]
