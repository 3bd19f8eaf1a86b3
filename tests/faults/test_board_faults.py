"""A board nobody can game or break, tried as a hostile or careless user would: a report that
writes only what it owns, records checked against their own evidence, provenance decided by
published hashes, zoo checkpoints held to the published ones, and the smaller faults (failpoint
variables, symlinked records, meta-device outputs). Each case checks the exit code, the one
`error:` line naming the file or plugin, and that no file outside the given folders (no finished
record, no user file) changed or went away. The ranking-only threat model's cases are in
test_ranking_faults.py."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from inprocess import hb  # tests/inprocess.py

REPO = Path(__file__).resolve().parents[2]
MODEL = "standard-v2/mnist/dpsh-small_cnn-32b"
CURRENT = "standard-v3/mnist/dpsh-small_cnn-32b"  # what `--suite standard` runs and takes from the zoo


def snapshot(*folders: Path) -> dict:
    return {p: p.read_bytes() for f in folders for p in sorted(Path(f).rglob("*"))
            if p.is_file() and not p.is_symlink()}


def said(res) -> str:
    """Everything a command printed, on one line (rich wraps long lines)."""
    return " ".join((res.stdout + res.stderr).split())


def error_lines(res) -> list[str]:
    return [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("error:")]


def one_error(res, *words: str) -> str:
    lines = error_lines(res)
    assert res.returncode == 2 and len(lines) == 1, (res.returncode, res.stdout, res.stderr)
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Published records (two rows of standard v2 mnist, three seeds), byte for byte."""
    root = tmp_path_factory.mktemp("shipped") / "results"
    for defense in ("vanilla", "cgat"):
        shutil.copytree(REPO / "results" / MODEL / defense, root / MODEL / defense)
    return root


def report(results, out, *more):
    return hb("report", *[a for r in results for a in ("--results", r)], "--out", out,
              "--no-plots", *more)


def table(out: Path) -> dict[str, dict]:
    import csv

    (path,) = [p for p in out.glob("standard-v2_*.csv")]
    return {r["defense"]: r for r in csv.DictReader(path.open())}


# ---------------------------------------------------------------- the report's own folder

def test_out_equal_to_a_results_folder_is_refused(shipped):
    before = snapshot(shipped)
    one_error(report([shipped], shipped), "overlaps --results")
    assert snapshot(shipped) == before


def test_out_inside_a_results_folder_is_refused(shipped):
    before = snapshot(shipped)
    one_error(report([shipped], shipped / "board"), "overlaps --results")
    assert snapshot(shipped) == before and not (shipped / "board").exists()


def test_out_containing_a_results_folder_is_refused(shipped):
    before = snapshot(shipped)
    one_error(report([shipped], shipped.parent), "overlaps --results")
    assert snapshot(shipped) == before


def test_records_folder_that_is_a_symlink_is_refused(shipped, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.json").write_text("{}")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "records").symlink_to(victim)
    one_error(report([shipped], tmp_path / "out"), "records is a symlink")
    assert (victim / "notes.json").read_text() == "{}" and len(list(victim.iterdir())) == 1


def test_plots_folder_that_is_a_symlink_is_refused(shipped, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "victim.png").write_bytes(b"png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "plots").symlink_to(victim)
    one_error(report([shipped], tmp_path / "out"), "plots is a symlink")
    assert (victim / "victim.png").read_bytes() == b"png"


def test_a_folder_below_records_leading_outside_is_refused(shipped, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "out" / "records").mkdir(parents=True)
    (tmp_path / "out" / "records" / "standard-v2").symlink_to(victim)
    one_error(report([shipped], tmp_path / "out"), "standard-v2 is a symlink")
    assert list(victim.iterdir()) == []


def test_the_shipped_board_is_rendered_from_the_shipped_results_alone():
    board = REPO / "leaderboard"
    before = snapshot(board)
    one_error(hb("report", "--results", REPO / "results" / "standard-v2", "--out", board,
                 "--no-plots"), "is the shipped board")
    assert snapshot(board) == before


def test_a_users_files_in_the_output_folder_are_never_deleted(shipped, tmp_path):
    out = tmp_path / "out"
    (out / "records").mkdir(parents=True)
    (out / "plots").mkdir()
    (out / "records" / "notes.json").write_text("{}")
    (out / "plots" / "victim.png").write_bytes(b"png")
    (out / "mine.csv").write_text("a,b\n")
    for _ in range(2):  # a first render, then one that could tidy up
        res = report([shipped], out)
        assert res.returncode == 0, res.stderr
    assert (out / "records" / "notes.json").read_text() == "{}"
    assert (out / "plots" / "victim.png").read_bytes() == b"png"
    assert (out / "mine.csv").read_text() == "a,b\n"


def test_a_rerender_removes_only_the_files_it_wrote_before(shipped, tmp_path):
    out, only_vanilla = tmp_path / "out", tmp_path / "only"
    shutil.copytree(shipped / MODEL / "vanilla", only_vanilla / MODEL / "vanilla")
    assert report([shipped], out).returncode == 0
    cgat_copy = out / "records" / MODEL / "cgat" / "seed0" / "clean.json"
    assert cgat_copy.is_file()
    (out / "records" / MODEL / "cgat" / "seed0" / "mine.json").write_text("{}")
    res = report([only_vanilla], out)
    assert res.returncode == 0, res.stderr
    assert not cgat_copy.exists() and "removed" in said(res)
    assert (out / "records" / MODEL / "cgat" / "seed0" / "mine.json").is_file()


def test_a_crafted_manifest_cannot_delete_outside_the_folder(shipped, tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside.txt"
    out.mkdir()
    outside.write_text("keep")
    (out / ".hashbench-report.json").write_text(json.dumps(
        {"files": ["../outside.txt", str(outside), "README.md"]}))
    assert report([shipped], out).returncode == 0
    assert outside.read_text() == "keep"


# ---------------------------------------------------------------- records and their evidence

def edited_copy(shipped: Path, dest: Path, edit) -> Path:
    shutil.copytree(shipped, dest)
    path = dest / MODEL / "vanilla" / "seed0" / "worst_case.json"
    rec = json.loads(path.read_text())
    edit(rec)
    path.write_text(json.dumps(rec, indent=1))
    return path


def test_validate_calls_an_edited_map_invalid(shipped, tmp_path):
    path = edited_copy(shipped, tmp_path / "r", lambda r: r["metrics"].update(map=0.9))
    res = hb("validate", tmp_path / "r")
    assert res.returncode == 1
    bad = [ln for ln in res.stdout.splitlines() if ln.startswith("invalid")]
    assert len(bad) == 1 and str(path) in bad[0] and "metrics.map" in bad[0], res.stdout


def test_validate_calls_an_edited_interval_invalid(shipped, tmp_path):
    edited_copy(shipped, tmp_path / "r", lambda r: r["metrics"].update(map_ci95=[0.0, 1.0]))
    res = hb("validate", tmp_path / "r")
    assert res.returncode == 1 and "map_ci95" in res.stdout


def test_report_never_shows_an_edited_record(shipped, tmp_path):
    path = edited_copy(shipped, tmp_path / "r", lambda r: r["metrics"].update(map=0.9))
    res = report([tmp_path / "r"], tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert f"left out {path}" in said(res) and "metrics.map is 0.9" in said(res)
    row = table(tmp_path / "out")["vanilla"]
    assert row["worst-case mAP"] == "" or float(row["worst-case mAP"]) < 0.5
    assert row["provisional"] != ""  # seed 0's worst case is missing: unranked


# ---------------------------------------------------------------- provenance by hash

def test_published_rows_are_first_party_and_fresh_ones_third_party(shipped, tmp_path):
    res = report([shipped], tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert table(tmp_path / "out")["vanilla"]["third_party"] == "False"
    # the same records, re-serialised (a recomputation writes other bytes): not published
    fresh = tmp_path / "fresh"
    shutil.copytree(shipped, fresh)
    for p in fresh.rglob("*.json"):
        p.write_text(json.dumps(json.loads(p.read_text()), indent=2))
    assert report([fresh], tmp_path / "out2").returncode == 0
    rows = table(tmp_path / "out2")
    assert rows["vanilla"]["third_party"] == "True" and rows["cgat"]["third_party"] == "True"
    md = (tmp_path / "out2" / "README.md").read_text()
    html = (tmp_path / "out2" / "index.html").read_text()
    assert "| yes |" in md and 'class="third-party' in html


def spoof(shipped: Path, dest: Path, where: str) -> None:
    """Every vanilla cell again, at ``where`` below the model's folder, with mAP 0.95 and a
    sidecar that says so (its sha256 in the record): the evidence agrees, the bytes are not
    published."""
    import io

    import numpy as np

    from hashbench.records.intervals import bootstrap_ci

    for seed in (0, 1, 2):
        for rec_path in (shipped / MODEL / "vanilla" / f"seed{seed}").glob("*.json"):
            rec = json.loads(rec_path.read_text())
            target = dest / MODEL / where.format(seed=seed) / rec_path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            side = np.load(rec_path.with_suffix(".queries.npz"))
            arrays = {k: side[k] for k in side.files}
            for key, arr in (("map", "ap"), ("clean_map", "clean_ap")):
                if arr in arrays:
                    arrays[arr] = np.full_like(arrays[arr], 0.95, dtype=np.float64)
                    rec["metrics"][key] = 0.95
                    rec["metrics"][f"{key}_ci95"] = bootstrap_ci(arrays[arr])
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            target.with_suffix(".queries.npz").write_bytes(buf.getvalue())
            rec["sidecar"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
            rec["model"]["defense"]["third_party"] = False
            target.write_text(json.dumps(rec, indent=1))


def test_a_second_folder_cannot_replace_a_published_row(shipped, tmp_path):
    spoof(shipped, tmp_path / "spoof", "vanilla/seed{seed}")
    before = snapshot(shipped, tmp_path / "spoof")
    res = report([shipped, tmp_path / "spoof"], tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "the same cell as the published" in said(res)
    row = table(tmp_path / "out")["vanilla"]
    assert float(row["worst-case mAP"]) < 0.1 and row["third_party"] == "False"
    # first as the reference does not help either
    res = report([tmp_path / "spoof", shipped], tmp_path / "out2")
    assert float(table(tmp_path / "out2")["vanilla"]["worst-case mAP"]) < 0.1
    assert snapshot(shipped, tmp_path / "spoof") == before


def test_duplicates_in_one_folder_cannot_replace_a_published_row(shipped, tmp_path):
    merged = tmp_path / "merged"
    shutil.copytree(shipped, merged)
    spoof(shipped, merged, "vanilla/zz-copy/seed{seed}")
    res = report([merged], tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert said(res).count("the same cell as the published") >= 15
    assert float(table(tmp_path / "out")["vanilla"]["worst-case mAP"]) < 0.1


def test_two_unpublished_records_of_one_cell_show_neither(shipped, tmp_path):
    spoof(shipped, tmp_path / "a", "vanilla/seed{seed}")
    spoof(shipped, tmp_path / "b", "vanilla/other/seed{seed}")
    res = report([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert res.returncode == 2 and "no result records" in said(res)
    assert said(res).count("conflicts with another record") >= 15


def test_a_consistent_forgery_is_shown_only_as_third_party(shipped, tmp_path):
    spoof(shipped, tmp_path / "spoof", "vanilla/seed{seed}")
    res = report([tmp_path / "spoof"], tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert table(tmp_path / "out")["vanilla"]["third_party"] == "True"


def test_a_symlinked_record_in_a_results_folder_is_one_line(shipped, tmp_path):
    second = tmp_path / "second"
    second.mkdir()
    (second / "clean.json").symlink_to(shipped / MODEL / "vanilla" / "seed0" / "clean.json")
    line = one_error(report([shipped, second], tmp_path / "out"), "symlinked record")
    assert str(second / "clean.json") in line and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the zoo as a model source

def impostor_zoo(tmp_path: Path) -> Path:
    """A zoo whose manifest lists the cgat weights, with their own sha256, as the published
    vanilla model of seed 0."""
    zoo = tmp_path / "zoo"
    src = REPO / "zoo" / CURRENT / "cgat" / "seed0.pt"
    (zoo / CURRENT / "vanilla").mkdir(parents=True)
    shutil.copy(src, zoo / CURRENT / "vanilla" / "seed0.pt")
    real = json.loads((REPO / "zoo" / "manifest.json").read_text())
    entry = next(e for e in real["models"] if e["name"] == f"{CURRENT}/vanilla" and e["seed"] == 0)
    entry = {**entry, "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
             "record": "nowhere.json"}
    (zoo / "manifest.json").write_text(json.dumps({"zoo_version": 1, "models": [entry]}))
    return zoo


def clean_run(tmp_path: Path):
    return hb("run", "--suite", "standard", "--seed", "0", "--only", "dataset=mnist",
              "--only", "defense=vanilla", "--only", "attack=clean", "--results",
              tmp_path / "r", "--cache", tmp_path / "c", "--quiet")


def test_an_impostor_zoo_is_refused_naming_it(tmp_path, monkeypatch):
    zoo = impostor_zoo(tmp_path)
    monkeypatch.setenv("HASHBENCH_ZOO", str(zoo))
    before = snapshot(zoo)
    res = clean_run(tmp_path)
    assert res.returncode == 1
    rec = json.loads(next((tmp_path / "r").rglob("clean.json")).read_text())
    assert rec["status"] == "failed" and str(zoo) in rec["error"] and "seed0.pt" in rec["error"]
    assert "not the published record's" in rec["error"]
    assert snapshot(zoo) == before


def test_a_run_says_which_zoo_it_took_models_from(tmp_path):
    res = clean_run(tmp_path)
    assert res.returncode == 0, res.stderr
    text = " ".join((res.stdout + res.stderr).split())
    assert "1 model taken from the zoo at" in text and "0 models trained" in text
    rec = json.loads(next((tmp_path / "r").rglob("clean.json")).read_text())
    pub = json.loads((REPO / "results" / CURRENT / "vanilla" / "seed0" / "clean.json").read_text())
    assert rec["model"]["checkpoint_sha256"] == pub["model"]["checkpoint_sha256"]


# ---------------------------------------------------------------- the smaller faults

@pytest.mark.parametrize("spec, words", [("trian-step", "unknown point 'trian-step'"),
                                         ("train-step@abc", "@abc is not a count"),
                                         ("train-step@0", "@0 is not a count")])
def test_a_bad_failpoint_is_one_line_naming_the_variable(spec, words, tmp_path, monkeypatch):
    monkeypatch.setenv("HASHBENCH_FAILPOINT", spec)
    res = hb("run", "--suite", "smoke", "--results", tmp_path / "r", "--cache", tmp_path / "c")
    one_error(res, "HASHBENCH_FAILPOINT", words)
    assert not (tmp_path / "r").exists()


def test_a_model_whose_output_is_on_the_meta_device_is_one_line(tmp_path):
    import hashbench
    from hashbench.errors import HandedInModelError

    class Meta(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(784, 16)

        def forward(self, x):
            return torch.empty(x.shape[0], 16, device="meta")

    with pytest.raises(HandedInModelError, match="outputs on the meta device") as err:
        hashbench.benchmark(Meta(), "mnist", attacks=["hag"], results=tmp_path / "r",
                            cache=tmp_path / "c", quiet=True)
    assert "\n" not in str(err.value) and "model 'my_model'" in str(err.value)
    assert not (tmp_path / "r").exists()


def test_selfcheck_waits_two_minutes_by_default():
    res = hb("selfcheck", "--help")
    assert "default: 120" in " ".join(res.stdout.split())


def test_a_published_index_that_misses_a_record_is_caught():
    """The index shipped with the package holds every shipped record (else the shipped board
    would mark its own rows third-party)."""
    from hashbench.records.published import build_index, published_index

    assert published_index() == build_index(REPO / "results")
