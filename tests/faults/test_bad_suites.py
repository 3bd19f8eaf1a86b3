"""Fault injection: malformed suite files. Each is refused before anything trains: exit 2, one
line naming the fault and the fix, nothing written."""

import pytest
from inprocess import hb  # tests/inprocess.py

BASE = """
name = "faulty"
version = 1
worst_case = ["hag"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla", "cgat"]
attacks = ["hag", "center_pgd"]
queries = 8

[defense.vanilla]
epochs = 1

[attack.hag]
steps = 2
"""

GROUP = BASE[BASE.index("[[groups]]"):BASE.index("[defense.vanilla]")]

CASES = {
    "unknown defense section": (BASE + "\n[defense.cgatt]\nepochs = 1\n",
                                "[defense.cgatt] configures a defense no group uses; did you mean cgat"),
    "unknown attack section": (BASE + "\n[attack.hagg]\nsteps = 1\n",
                               "[attack.hagg] configures a attack no group uses; did you mean hag"),
    "group listed twice": (BASE.replace("[defense.vanilla]", GROUP + "\n[defense.vanilla]"),
                           "repeats groups[0]"),
    "attack listed twice": (BASE.replace('attacks = ["hag", "center_pgd"]',
                                         'attacks = ["hag", "hag"]'), "lists hag twice"),
    "defense listed twice": (BASE.replace('defenses = ["vanilla", "cgat"]',
                                          'defenses = ["cgat", "cgat"]'), "lists cgat twice"),
    "method typo": (BASE.replace('methods = ["dpsh"]', 'methods = ["dpshh"]'),
                    "unknown hashing method 'dpshh'; did you mean dpsh"),
    "defense typo": (BASE.replace('"vanilla", "cgat"]', '"vanilla", "cgatt"]'),
                     "unknown defense 'cgatt'; did you mean cgat"),
    "attack typo": (BASE.replace('"hag", "center_pgd"]', '"hag", "center_pdg"]'),
                    "unknown attack 'center_pdg'; did you mean center_pgd"),
    "worst case typo": (BASE.replace('worst_case = ["hag"]', 'worst_case = ["hagg"]'),
                        "worst_case names 'hagg'"),
    "cell from two groups": (BASE.replace("[defense.vanilla]", GROUP.replace(
        'attacks = ["hag", "center_pgd"]', 'attacks = ["hag"]') + "\n[defense.vanilla]"),
        "comes from two groups"),
    "steps without end": (BASE.replace("steps = 2", "steps = 1000000000000"),
                          "parameter 'steps' must lie in [0, 100000]"),
    "epochs without end": (BASE.replace("epochs = 1", "epochs = 99999999"),
                           "parameter 'epochs' must lie in [0, 10000]"),
    "unknown parameter": (BASE.replace("steps = 2", "stepz = 2"), "unknown parameter(s) stepz"),
    "parameter of the wrong type": (BASE.replace("steps = 2", 'steps = "many"'),
                                    "parameter 'steps' must be int"),
    "eps not a number": (BASE.replace("queries = 8", "queries = 8\neps = [nan]"),
                         "holds nan; a budget is a finite number"),
    "budget above one": (BASE.replace("queries = 8", "queries = 8\nbudget = 2.0"),
                         "budget"),
    "seed negative": (BASE.replace("version = 1", "version = 1\nseed = -1"), "seed"),
    "seeds repeated": (BASE.replace("version = 1", "version = 1\nseeds = [0, 0]"),
                       "has non-unique elements"),
    "bits too few": (BASE.replace("bits = [16]", "bits = [2]"), "bits"),
    "unknown top-level key": (BASE.replace("version = 1", "version = 1\nwhatever = 3"),
                              "Additional properties are not allowed"),
    "unknown group key": (BASE.replace("queries = 8", "queries = 8\ndefences = ['x']"),
                          "Additional properties are not allowed"),
    "name that is a path": (BASE.replace('name = "faulty"', 'name = "../../escape"'),
                            "does not match"),
    "cell timeout negative": (BASE.replace("version = 1", "version = 1\ncell_timeout = -5"),
                              "cell_timeout"),
    "cell timeout beyond a week": (BASE.replace("version = 1",
                                                "version = 1\ncell_timeout = 1e9"),
                                   "cell_timeout"),
    "cell timeout nan": (BASE.replace("version = 1", "version = 1\ncell_timeout = nan"),
                         "cell_timeout is nan; give a finite number"),
    "cell timeout inf": (BASE.replace("version = 1", "version = 1\ncell_timeout = inf"),
                         "cell_timeout"),
    "seed beside seeds": (BASE.replace("version = 1", "version = 1\nseed = 3\nseeds = [0, 1]"),
                          "sets both seed (3) and seeds; keep one"),
    "seed of 2^63": (BASE.replace("version = 1", "version = 1\nseed = 9223372036854775807"),
                     "is greater than the maximum of 4294967295"),
    "seeds holding 2^64": (BASE.replace("version = 1",
                                        "version = 1\nseeds = [0, 18446744073709551616]"),
                           "seeds"),
    "queries a billion": (BASE.replace("queries = 8", "queries = 1000000000"),
                          "is greater than the maximum of 100000"),
    "queries beyond the query split": (BASE.replace("queries = 8", "queries = 99999"),
                                       "queries = 99999, but mnist's query split holds"),
    "not TOML": ("name = [unclosed", "not valid TOML"),
    "no groups": ('name = "x"\nversion = 1\ngroups = []\n', "should be non-empty"),
    "missing version": (BASE.replace("version = 1\n", ""), "'version' is a required property"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_suite_is_refused_before_anything_runs(case, tmp_path):
    text, message = CASES[case]
    suite = tmp_path / "faulty.toml"
    suite.write_text(text)
    res = hb("run", "--suite", suite, "--results", tmp_path / "results", "--cache",
             tmp_path / "cache")
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert message in lines[0], lines[0]
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


MODALITY_CASES = {
    "a text attack under attacks": (BASE.replace('attacks = ["hag", "center_pgd"]',
                                                 'attacks = ["hag", "text_flip"]'),
                                    "attack 'text_flip' perturbs text queries, but attacks "
                                    "lists image attacks"),
    "an image-text defense in an image group": (
        BASE.replace('defenses = ["vanilla", "cgat"]', 'defenses = ["vanilla", "cm_cgat"]'),
        "defense 'cm_cgat' trains image-text hashing models, but this group is image"),
    "text attacks in an image group": (
        BASE.replace('attacks = ["hag", "center_pgd"]',
                     'attacks = ["hag", "center_pgd"]\ntext_attacks = ["text_flip"]'),
        "text_attacks in an image group"),
}


@pytest.mark.parametrize("case", sorted(MODALITY_CASES))
def test_a_plugin_of_another_modality_is_refused_at_load(case, tmp_path):
    text, message = MODALITY_CASES[case]
    suite = tmp_path / "faulty.toml"
    suite.write_text(text)
    res = hb("run", "--suite", suite, "--results", tmp_path / "results", "--cache",
             tmp_path / "cache")
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("suite, option, message", [
    ("crossmodal", ["--add-defense", "cgat"],
     "--add-defense cgat: it trains image hashing models, and suite crossmodal has no image "
     "group"),
    ("smoke", ["--add-defense", "cm_cgat"],
     "--add-defense cm_cgat: it trains image-text hashing models, and suite smoke has no "
     "image-text group"),
    ("smoke", ["--add-attack", "text_flip"],
     "--add-attack text_flip: it perturbs text queries, and suite smoke has no image-text group"),
])
def test_an_added_plugin_of_another_modality_is_one_line_before_training(suite, option, message,
                                                                        tmp_path):
    res = hb("run", "--suite", suite, "--results", tmp_path / "results", "--cache",
             tmp_path / "cache", *option)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()
