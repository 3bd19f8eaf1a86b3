"""Every flag the docs promise fires: for each, a record (or row) built to carry it, checked on
the board; and a plain row carries none. A flag that silently stopped firing (as the CPU-kernel
flag once did, comparing "cpu" with "cpu (x86_64, 2 threads)") fails here."""

import copy

import pytest
from record_factory import complete, ensemble  # tests/record_factory.py

from hashbench.report.flags import RECORD_FLAGS
from hashbench.report.leaderboard import build_boards

BASE = {"suite": {"name": "standard", "version": 2},
        "dataset": {"name": "mnist", "protocol": "mnist-5k-v1"},
        "model": {"defense": {"name": "cgat", "third_party": False}}}


def rec(attack: str, clean: float = 0.9, value: float | None = 0.5, seed: int = 0, **extra):
    metrics = {"eps": 0.3, "topk": None, "clean_map": clean, "random_map": 0.1}
    if value is not None:
        metrics["map"] = value
    r = complete({**copy.deepcopy(BASE), "cell": {"attack": attack, "seed": seed},
                  "metrics": metrics, **({"attack": {}} if attack not in
                                         ("clean", "worst_case") else {})})
    for path, value in extra.items():
        target = r
        *head, last = path.split(".")
        for key in head:
            target = target[key]
        target[last] = value
    return r


def flags_of(records) -> str:
    (board,) = build_boards(records)
    return board.table["flags"][0]


def plain() -> list:
    return [rec("clean", value=None), rec("hag", value=0.5),
            rec("worst_case", value=0.5, **{"metrics.worst_case_of": ["hag"]})]


def test_a_plain_row_carries_no_flag():
    assert flags_of(plain()) == ""


CASES = {
    "trained with amp-bf16": lambda r: r[0]["provenance"].update(precision="amp-bf16"),
    "computed from a dirty tree": lambda r: r[0]["provenance"].update(git_dirty=True),
    "computed with AVX512 CPU kernels, not the protocol's AVX2": lambda r: r[0][
        "provenance"].update(device="cpu (x86_64, 2 threads)",
                             cpu_kernels={"aten": "AVX512", "threads": 2}),
    "hag failed": lambda r: r[1].update(status="failed", error="boom"),
    "hag: queries made outside hashbench": lambda r: r[1]["attack"].update(external=True),
    "gradient masking suspected": lambda r: r[1]["metrics"].update(
        ensemble=ensemble(True, 0.2)),
    "hag mAP above clean": lambda r: r[1]["metrics"].update(map=0.95),
    "hag not near random at eps 0.6": lambda r: [x["metrics"].update(eps=0.6) for x in r],
    "clean mAP within 0.1 of random ranking": lambda r: [x["metrics"].update(clean_map=0.15)
                                                          for x in r],
    "worst case below the random floor": lambda r: r[2]["metrics"].update(map=0.05),
    "cells computed on different checkpoints": lambda r: [
        x["model"].update(checkpoint_sha256=f"{i}" * 64) for i, x in enumerate(r)],
    "worst case not converged (-0.030 at 2x)": lambda r: r[2]["metrics"].update(
        convergence={"attack": "hag", "factor": 2, "map": 0.47, "drop": 0.03}),
}


@pytest.mark.parametrize("flag", sorted(CASES))
def test_each_flag_fires_on_a_record_that_must_carry_it(flag):
    records = plain()
    CASES[flag](records)
    assert flag in flags_of(records)


def test_every_record_flag_rule_has_a_case():
    """A new flag rule needs a case here (so it cannot silently stop firing either)."""
    names = {rule.__name__ for rule in RECORD_FLAGS}
    assert len(names) == 9 and len(CASES) >= len(names)


@pytest.mark.parametrize("drop", [0.0, 0.01, 0.0101, 0.2])
def test_the_drop_at_2x_sits_beside_the_worst_case_and_flags_past_its_margin(drop):
    records = plain()
    records[2]["metrics"]["convergence"] = {"attack": "hag", "factor": 2, "map": 0.5 - drop,
                                            "drop": drop}
    (board,) = build_boards(records)
    cols = list(board.table.columns)
    assert cols.index("drop at 2x") == cols.index("worst-case CI high") + 1
    assert board.table["drop at 2x"][0] == drop
    assert ("not converged" in board.table["flags"][0]) == (drop > 0.01)
    # a board without the check has no such column
    assert "drop at 2x" not in build_boards(plain())[0].table.columns


def test_an_older_suite_version_is_flagged():
    old = [dict(r, suite={"name": "standard", "version": 1}) for r in plain()]
    boards = {b.suite_version: b for b in build_boards(plain() + old)}
    assert "older suite version" in boards[1].table["flags"][0]
    assert "older suite version" not in boards[2].table["flags"][0]
