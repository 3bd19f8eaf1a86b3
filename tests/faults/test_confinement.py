"""Fault injection against the paths hashbench builds from files it does not control: a zoo
manifest, a record's cell, a suite folder inside --results, reproduce's scratch folder. Each case
ends in one line naming the file and the fix, a non-zero exit, nothing written outside the
folders given and no finished record changed."""

import json
import shutil
from pathlib import Path

import pytest
from inprocess import hb  # tests/inprocess.py

import hashbench.zoo
from hashbench.errors import ResultError
from hashbench.zoo import build_zoo

SMOKE_MODEL = "smoke-v1/mnist/dpsh-small_cnn-16b"


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(("error:", "internal error:"))]


def one_error(res, code: int = 2) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and not lines[0].startswith("internal"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def tiny_zoo(smoke_results, tmp_path_factory):
    """A zoo of the smoke run's one checkpoint, built as `hashbench zoo --build` does."""
    root = tmp_path_factory.mktemp("zoo") / "zoo"
    build_zoo(smoke_results / "results", smoke_results / "cache", root)
    return root


def zoo_copy(tiny_zoo: Path, tmp_path: Path, edit) -> Path:
    root = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, root)
    manifest = json.loads((root / "manifest.json").read_text())
    edit(manifest["models"][0], root, tmp_path)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _outside_file(entry, root, tmp):
    (tmp / "outside").mkdir()
    shutil.copy(root / entry["file"], tmp / "outside" / "seed0.pt")
    entry["file"] = "../outside/seed0.pt"


def _absolute_file(entry, root, tmp):
    (tmp / "outside").mkdir()
    shutil.copy(root / entry["file"], tmp / "outside" / "seed0.pt")
    entry["file"] = str(tmp / "outside" / "seed0.pt")


def _symlinked_file(entry, root, tmp):
    (tmp / "outside").mkdir()
    target = tmp / "outside" / "seed0.pt"
    shutil.move(root / entry["file"], target)
    (root / entry["file"]).symlink_to(target)


def _dotdot_name(entry, root, tmp):
    entry["name"] = "smoke-v1/../../mnist/x"


def _backslash_file(entry, root, tmp):
    entry["file"] = entry["file"].replace("/", "\\")


def _not_a_pt_file(entry, root, tmp):
    entry["file"] = entry["file"][:-3] + ".json"


def _seed_a_string(entry, root, tmp):
    entry["seed"] = "0"


ZOO_CASES = {
    "file leading out with ..": (_outside_file, "is not a plain name"),
    "file an absolute path": (_absolute_file, "must be relative"),
    "file a symlink to outside the zoo": (_symlinked_file, "outside"),
    "name holding ..": (_dotdot_name, "is not a plain name"),
    "file with backslashes": (_backslash_file, "must be relative"),
    "file not a .pt": (_not_a_pt_file, "malformed"),
    "seed a string": (_seed_a_string, "malformed"),
}


@pytest.mark.parametrize("case", sorted(ZOO_CASES))
def test_a_zoo_manifest_entry_cannot_point_outside_its_zoo(case, tiny_zoo, tmp_path):
    edit, message = ZOO_CASES[case]
    root = zoo_copy(tiny_zoo, tmp_path, edit)
    name = hashbench.zoo.entries(tiny_zoo)[0].name
    with pytest.raises(ResultError, match=message) as err:
        hashbench.zoo.load_model(name, 0, root=root)
    assert "\n" not in str(err.value)


def test_a_deeply_nested_zoo_manifest_is_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text("[" * 100000 + "]" * 100000)
    res = hb("zoo", "--zoo", tmp_path)
    assert "manifest" in one_error(res)


def _record_with_cell(smoke_results: Path, tmp_path: Path, **cell) -> Path:
    results = tmp_path / "results"
    shutil.copytree(smoke_results / "results", results)
    path = results / SMOKE_MODEL / "vanilla" / "clean.json"
    rec = json.loads(path.read_text())
    rec["cell"].update(cell)
    path.write_text(json.dumps(rec))
    return results


def test_zoo_build_refuses_a_record_whose_defense_leads_out(smoke_results, tmp_path):
    results = _record_with_cell(smoke_results, tmp_path, defense="../../../escape")
    res = hb("zoo", "--build", results, "--cache", smoke_results / "cache", "--zoo",
             tmp_path / "zoo")
    assert "is not a plain name" in one_error(res)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.rglob("seed0.pt"))


def test_zoo_build_refuses_a_record_whose_seed_is_not_a_seed(smoke_results, tmp_path):
    results = _record_with_cell(smoke_results, tmp_path, seed=-3)
    res = hb("zoo", "--build", results, "--cache", smoke_results / "cache", "--zoo",
             tmp_path / "zoo")
    assert "cell.seed -3" in one_error(res)


@pytest.mark.parametrize("field,value", [("defense", "../../escape"), ("attack", "x/../../y"),
                                         ("dataset", "/etc"), ("suite", "..")])
def test_reproduce_refuses_a_record_whose_cell_leads_out(field, value, smoke_results,
                                                         tmp_path):
    results = _record_with_cell(smoke_results, tmp_path, **{field: value})
    before = snapshot(results)
    res = hb("reproduce", results, "--scratch", tmp_path / "scratch", "--cache",
             smoke_results / "cache")
    line = one_error(res)
    assert f"cell.{field}" in line and "clean.json" in line
    assert not (tmp_path / "escape").exists() and snapshot(results) == before


@pytest.mark.parametrize("where", ["the results' parent", "the results", "inside them",
                                   "a record's folder"])
def test_reproduce_refuses_a_scratch_folder_overlapping_the_records(where, smoke_results,
                                                                    tmp_path):
    results = tmp_path / "results"
    shutil.copytree(smoke_results / "results", results)
    scratch = {"the results' parent": tmp_path, "the results": results,
               "inside them": results / "smoke-v1" / "scratch",
               "a record's folder": results / SMOKE_MODEL / "vanilla"}[where]
    before = snapshot(tmp_path)
    res = hb("reproduce", results / "smoke-v1", "--scratch", scratch, "--cache",
             smoke_results / "cache")
    assert "--scratch" in one_error(res) and "overlaps" in res.stderr
    assert snapshot(tmp_path) == before


def test_run_refuses_a_suite_folder_that_is_a_symlink_out_of_results(smoke_results, tmp_path):
    results, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    results.mkdir()
    elsewhere.mkdir()
    (results / "smoke-v1").symlink_to(elsewhere)
    res = hb("run", "--suite", "smoke", "--results", results, "--cache",
             smoke_results / "cache")
    assert "outside" in one_error(res)
    assert list(elsewhere.iterdir()) == []


def test_a_record_whose_sidecar_is_missing_is_not_finished(smoke_results, tmp_path):
    results, cache = tmp_path / "results", tmp_path / "cache"
    shutil.copytree(smoke_results / "results", results)
    shutil.copytree(smoke_results / "cache", cache)
    sidecar = results / SMOKE_MODEL / "vanilla" / "hag.queries.npz"
    expected = sidecar.read_bytes()
    sidecar.unlink()
    res = hb("run", "--suite", "smoke", "--results", results, "--cache", cache)
    assert res.returncode == 0, res.stderr
    assert sidecar.read_bytes() == expected  # recomputed, bit for bit
