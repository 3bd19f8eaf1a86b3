"""The literature attacks through `hashbench run`: the harness trains the cross-architecture
surrogate like any model, caches what an attack fits per model, hands the ranking-only attack an
oracle, writes the black-box worst case beside the white-box one, and a rerun gives the same
numbers from the caches without fitting again."""

import json

from inprocess import hb  # tests/inprocess.py

SUITE = """name = "literature-mini"
version = 1
seed = 0
cell_timeout = 300
worst_case = ["hag", "sdha", "tha", "prosgan", "universal", "universal_targeted",
              "transfer_arch", "ranking_blackbox"]
blackbox_worst_case = ["transfer_arch", "ranking_blackbox"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag", "sdha", "tha", "prosgan", "universal", "universal_targeted", "transfer_arch",
           "ranking_blackbox"]
queries = 48

[defense.vanilla]
epochs = 2
optimizer = "adam"
lr = 0.001
weight_decay = 0.0

[attack.hag]
steps = 5
[attack.sdha]
steps = 5
[attack.tha]
proto_steps = 30
[attack.prosgan]
epochs = 1
proto_steps = 30
[attack.universal]
steps = 10
[attack.universal_targeted]
steps = 5
[attack.transfer_arch]
steps = 5
[attack.ranking_blackbox]
queries = 40
"""


def numbers(root):
    out = {}
    for p in sorted(root.rglob("*.json")):
        rec = json.loads(p.read_text())
        assert rec["status"] == "ok", rec["error"]
        out[p.name] = (rec["metrics"].get("map"), rec["metrics"].get("t_map"), rec["cost"])
    return out


def test_literature_attacks_run_through_the_cli(tmp_path):
    suite = tmp_path / "mini.toml"
    suite.write_text(SUITE)
    cache = tmp_path / "cache"
    first = hb("run", "--suite", suite, "--results", tmp_path / "a", "--cache", cache)
    assert first.returncode == 0, first.stderr
    got = numbers(tmp_path / "a")
    assert len(got) == 11  # clean, 8 attacks, the white-box and the black-box worst cases
    assert got["transfer_arch.json"][2]["trained_models"] == 1  # its surrogate, another model
    assert got["tha.json"][2]["phases"]["fitting"] > 0
    ranking = got["ranking_blackbox.json"][2]
    assert 0 < ranking["queries_mean"] <= ranking["queries_max"] <= 40
    worst, blackbox = got["worst_case.json"][0], got["blackbox_worst_case.json"][0]
    assert worst <= blackbox <= min(got["ranking_blackbox.json"][0],
                                    got["transfer_arch.json"][0]) + 1e-12
    valid = hb("validate", tmp_path / "a")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    # another results folder on the same cache: the same numbers, nothing trained or fitted
    again = hb("run", "--suite", suite, "--results", tmp_path / "b", "--cache", cache)
    assert again.returncode == 0, again.stderr
    redo = numbers(tmp_path / "b")
    assert {k: v[:2] for k, v in redo.items()} == {k: v[:2] for k, v in got.items()}
    assert all(v[2]["trained_models"] == 0 for v in redo.values())
    assert redo["prosgan.json"][2]["backward_images"] == 0  # the generator was loaded
