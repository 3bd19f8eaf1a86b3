"""Typed records: every record ever committed (the historic fixtures, taken from the git history
of results/, one per shape) and every record shipped now loads, validates and comes back key for
key; the dataclasses and the JSON Schema name the same keys; an unknown version is refused."""

import json
from pathlib import Path

import pytest

from hashbench.errors import ResultError
from hashbench.records.io import iter_record_paths, load_record, schema
from hashbench.records.types import ABSENT, PARTS, Record

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests/fixtures/records").rglob("*.json"))
SHIPPED = list(iter_record_paths([ROOT / "results"]))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name[:40] for p in FIXTURES])
def test_every_historic_record_shape_still_loads(path):
    data = load_record(path)  # schema-valid
    record = Record.from_dict(data, str(path))
    assert record.to_dict() == data


def test_every_shipped_record_round_trips():
    assert len(SHIPPED) > 500
    for path in SHIPPED:
        data = json.loads(path.read_text())
        assert Record.from_dict(data, str(path)).to_dict() == data, path


def _node(name: str) -> dict:
    s = schema()
    props = s["properties"]
    return {"record": s, "suite": props["suite"], "dataset": props["dataset"],
            "plugin": s["$defs"]["plugin"], "model": props["model"],
            "metrics": props["metrics"], "ensemble": props["metrics"]["properties"]["ensemble"],
            "convergence": props["metrics"]["properties"]["convergence"],
            "cost": props["cost"], "phases": props["cost"]["properties"]["phases"],
            "provenance": props["provenance"],
            "cpu_kernels": props["provenance"]["properties"]["cpu_kernels"],
            "sidecar": props["sidecar"]["anyOf"][1]}[name]


@pytest.mark.parametrize("name", sorted(PARTS))
def test_each_dataclass_names_the_schema_keys(name):
    import dataclasses

    node, cls = _node(name), PARTS[name]
    fields = dataclasses.fields(cls)
    assert {f.name for f in fields} == set(node["properties"]), name
    required = {f.name for f in fields if f.default is not ABSENT}
    assert required == set(node.get("required", [])), name


def test_typed_access_and_absent_keys():
    record = Record.from_dict(json.loads(FIXTURES[0].read_text()))
    assert record.metrics.eps == 0.3 and record.model.defense.name == "atrdh"
    assert record.cost.phases is ABSENT and not record.cost.phases  # older than the clock
    assert record.precision == "fp32"  # older than --amp


def test_an_unknown_schema_version_or_key_is_a_one_line_error():
    data = json.loads(FIXTURES[0].read_text())
    with pytest.raises(ResultError, match="schema_version 7 is not one this hashbench reads"):
        Record.from_dict({**data, "schema_version": 7})
    with pytest.raises(ResultError, match=r"record\.metrics: unknown key\(s\) bogus"):
        Record.from_dict({**data, "metrics": {**data["metrics"], "bogus": 1}})
    with pytest.raises(ResultError, match=r"record\.cost: missing key 'wall_seconds'"):
        Record.from_dict({**data, "cost": {"attack_steps": 0}})
