"""Fault injection: bad records, sidecars and names fed to `validate` and `report`.

Every case copies a finished smoke run, breaks one thing, runs the command and checks: a non-zero
exit, one line naming the problem, and no other record changed."""

import json
import shutil
from pathlib import Path

import pytest
from inprocess import hb  # tests/inprocess.py

HAG = "smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/hag.json"


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def raw_replace(pattern: str, value: str):
    """Replace the first JSON number after ``pattern`` with ``value`` (NaN, Infinity: not JSON
    that Python's writer would make, but what a hostile or broken file can hold)."""
    def apply(path: Path):
        text = path.read_text()
        i = text.index(pattern) + len(pattern)
        j = i
        while text[j] not in ",\n}":
            j += 1
        path.write_text(text[:i] + value + text[j:])
    return apply


def edit_json(fn):
    def apply(path: Path):
        rec = json.loads(path.read_text())
        fn(rec)
        path.write_text(json.dumps(rec))
    return apply


def remove_sidecar(path: Path):
    path.with_suffix(".queries.npz").unlink()


def tamper_sidecar(path: Path):
    side = path.with_suffix(".queries.npz")
    data = bytearray(side.read_bytes())
    data[len(data) // 2] ^= 0xFF
    side.write_bytes(bytes(data))


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def not_utf8(path: Path):
    path.write_bytes(b"\xff\xfe" + path.read_bytes())


def sidecar_ref(value):
    return edit_json(lambda r: r["sidecar"].update(path=value))


VALIDATE_CASES = {
    "metric NaN": (raw_replace('"map": ', "NaN"), "holds NaN"),
    "metric Infinity": (raw_replace('"map": ', "Infinity"), "holds Infinity"),
    "metric -Infinity": (raw_replace('"map": ', "-Infinity"), "holds -Infinity"),
    "clean mAP NaN": (raw_replace('"clean_map": ', "NaN"), "holds NaN"),
    "cost NaN": (raw_replace('"wall_seconds": ', "NaN"), "holds NaN"),
    "metric above 1": (raw_replace('"map": ', "1.5"), "1.5 is greater than the maximum of 1"),
    "metric a string": (raw_replace('"map": ', '"0.5"'), "is not of type 'number'"),
    "sidecar missing": (remove_sidecar, "is missing"),
    "sidecar tampered": (tamper_sidecar, "does not match its sha256"),
    "sidecar path escapes": (sidecar_ref("../../../../escape.npz"), "leaves the record's folder"),
    "sidecar path absolute": (sidecar_ref("/etc/passwd"), "leaves the record's folder"),
    "sidecar path a folder": (sidecar_ref(".."), "leaves the record's folder"),
    "sidecar path nested": (sidecar_ref("sub/hag.queries.npz"), "leaves the record's folder"),
    "record truncated": (truncate, "not a readable JSON record"),
    "record not UTF-8": (not_utf8, "not a readable JSON record"),
    "unknown schema version": (edit_json(lambda r: r.update(schema_version=9)), "schema_version"),
    "unknown field": (edit_json(lambda r: r.update(extra=1)), "Additional properties"),
    "status unknown": (edit_json(lambda r: r.update(status="fine")), "status"),
    "NaN deep in the cost": (raw_replace('"wall_seconds": ', "NaN"),
                             "$.cost.wall_seconds holds NaN"),
    "NaN in a metric, named": (raw_replace('"map": ', "NaN"), "$.metrics.map holds NaN"),
    "200,000 unknown keys": (edit_json(lambda r: r.update({f"k{i}": i for i in range(200000)})),
                             "Additional properties"),
    "nested past the parser's depth": (lambda p: p.write_text("[" * 200000 + "]" * 200000),
                                       "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(VALIDATE_CASES))
def test_validate_names_the_fault_and_fails(case, smoke_results, tmp_path):
    fault, message = VALIDATE_CASES[case]
    results = tmp_path / "results"
    shutil.copytree(smoke_results / "results", results)
    fault(results / HAG)
    before = snapshot(results)
    res = hb("validate", str(results))
    assert res.returncode == 1
    bad = [line for line in res.stdout.splitlines() if line.startswith("invalid")]
    assert len(bad) == 1 and "hag.json" in bad[0] and message in bad[0], res.stdout[:2000]
    assert len(res.stdout) + len(res.stderr) < 2000  # bounded, however big the record
    assert "4 valid, 1 invalid" in res.stdout
    assert snapshot(results) == before  # validate reads, never writes


@pytest.mark.parametrize("case", ["sidecar path escapes", "sidecar tampered", "sidecar missing"])
def test_report_refuses_a_bad_sidecar(case, smoke_results, tmp_path):
    fault, message = VALIDATE_CASES[case]
    results = tmp_path / "results"
    shutil.copytree(smoke_results / "results", results)
    fault(results / HAG)
    before = snapshot(results)
    res = hb("report", "--results", str(results), "--out", str(tmp_path / "board"))
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and message in res.stderr.replace("\n", " ")
    assert snapshot(results) == before


HOSTILE = {
    "spreadsheet formula": "=HYPERLINK(\"http://x\",\"y\")",
    "plus formula": "+cmd|' /C calc'!A0",
    "at formula": "@SUM(1+1)",
    "ansi escape": "\x1b[31mred\x1b[0m",
    "osc escape": "\x1b]0;owned\x07",
    "rich markup": "[/][bold]x[/bold]",
    "right-to-left override": "cgat\u202egpj.exe",
    "bidi isolate and mark": "\u2067cgat\u2069\u200f",
    "bell and backspace": "cg\x07\x08at",
    "zero-width space and BOM": "cg\u200bat\ufeff",
    "escape hiding a formula": "\x1b=cmd",
}
UNSAFE = ["\x1b", "\x07", "\x08", "\u202e", "\u2067", "\u2069", "\u200f", "\u200b", "\ufeff"]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_names_stay_inert_in_every_output(case, smoke_results, tmp_path):
    name = HOSTILE[case]
    results = tmp_path / "results"
    shutil.copytree(smoke_results / "results", results)
    for path in results.rglob("*.json"):
        rec = json.loads(path.read_text())
        rec["model"]["defense"]["name"] = name
        path.write_text(json.dumps(rec))
    # tables only, except once: the plots read the same names
    plots = [] if case == "rich markup" else ["--no-plots"]
    res = hb("report", "--results", str(results), "--out", str(tmp_path / "board"), *plots)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    for csv in (tmp_path / "board").glob("*.csv"):
        for cell in csv.read_text().replace("\n", ",").split(","):
            assert not cell.strip('"').startswith(("=", "+", "@", "-")), (csv, cell)
    outputs = {"terminal": res.stdout + res.stderr,
               **{p.name: p.read_text() for p in (tmp_path / "board").iterdir() if p.is_file()}}
    for where, text in outputs.items():
        assert not [c for c in UNSAFE if c in text], (where, case)
