"""Fault injection at the command line and in the environment: bad data files, unwritable or
full disks, bad options, concurrent runs, leftovers of a killed run. Each ends in one line and a
non-zero exit (2: bad input, 1: failed cells) and changes no finished record."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from inprocess import hb as inprocess_hb  # tests/inprocess.py

FOLDER = "smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"

LIST_SUITE = """
name = "listdata"
version = 1
[[groups]]
datasets = ["nus_wide"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag"]
[defense.vanilla]
epochs = 1
"""


def hb(*args, env=None):
    """The CLI in process (its entry point, exit codes and messages); in a subprocess only where
    a case needs its own environment."""
    if env is None:
        return inprocess_hb(*args)
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "250", **env})


def snapshot(results: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}


def copy_run(smoke_results: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(smoke_results / "results", tmp_path / "results")
    shutil.copytree(smoke_results / "cache", tmp_path / "cache")
    return tmp_path / "results", tmp_path / "cache"


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(("error:", "internal error:"))]


def list_files(root: Path, train: bytes, test: bytes | None = None) -> None:
    folder = root / "nus_wide"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_bytes(train)
    (folder / "test.txt").write_bytes(test if test is not None else train)
    (folder / "database.txt").write_bytes(train)


GOOD_LINE = b"img/a.jpg " + b"0 " * 20 + b"1\n"
DATA_CASES = {
    "list file with a short line": (b"img/a.jpg 0 1\n", "line 1: expected"),
    "list file with a label that is not 0/1": (b"img/a.jpg " + b"2 " * 21 + b"\n",
                                               "line 1: expected"),
    "list file that is not UTF-8": (b"img/\xff\xfe.jpg " + b"0 " * 20 + b"1\n",
                                    "cannot read list file"),
    "empty list file": (b"", "is empty"),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_a_malformed_dataset_is_an_error_not_a_skip(case, tmp_path):
    content, message = DATA_CASES[case]
    list_files(tmp_path / "data", GOOD_LINE * 3, content)
    suite = tmp_path / "s.toml"
    suite.write_text(LIST_SUITE)
    res = hb("run", "--suite", str(suite), "--data-root", str(tmp_path / "data"), "--results",
             str(tmp_path / "r"), "--cache", str(tmp_path / "c"))
    assert res.returncode == 2, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and message in lines[0] and "nus_wide" in lines[0], res.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.json"))


def test_an_absent_dataset_is_skipped_naming_the_command_that_gets_it(tmp_path):
    """Skipped, never an error of its own; a suite left with no data at all exits 2, one line
    per dataset naming the command that gets it, and counts nothing as done."""
    suite = tmp_path / "s.toml"
    suite.write_text(LIST_SUITE)
    (tmp_path / "data").mkdir()
    res = hb("run", "--suite", str(suite), "--data-root", str(tmp_path / "data"), "--results",
             str(tmp_path / "r"), "--cache", str(tmp_path / "c"))
    assert res.returncode == 2, res.stderr
    assert "skipping dataset nus_wide" in res.stderr and "missing list file" in res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "hashbench data prepare nus_wide" in lines[0], res.stderr
    assert "done" not in res.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.json"))


@pytest.mark.parametrize("where", ["results", "cache"])
def test_an_unwritable_folder_is_one_line_and_exit_2(where, smoke_results, tmp_path):
    results, cache = copy_run(smoke_results, tmp_path)
    before = snapshot(results)
    (results / FOLDER / "hag.json").unlink()  # one cell to compute, so something is written
    before.pop(results / FOLDER / "hag.json")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bad = blocker / "sub"  # a folder inside a file: refused even to root
    args = {"results": str(results), "cache": str(cache), where: str(bad)}
    res = hb("run", "--suite", "smoke", "--results", args["results"], "--cache", args["cache"],
             "--only", "attack=hag")
    assert res.returncode == 2, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "a-file" in lines[0] and "Traceback" not in res.stderr, res.stderr
    after = snapshot(results)
    assert {p: after[p] for p in before} == before


def test_a_full_disk_is_one_line_and_loses_nothing(smoke_results, tmp_path, monkeypatch, capsys):
    """In-process, with every fsync failing as on a full disk (no way to fill a disk here)."""
    from hashbench import cli
    from hashbench.records import io as records

    results, cache = copy_run(smoke_results, tmp_path)
    (results / FOLDER / "hag.json").unlink()
    before = snapshot(results)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(records.os, "fsync", full)
    monkeypatch.setattr(sys, "argv", ["hashbench", "run", "--suite", "smoke", "--results",
                                      str(results), "--cache", str(cache)])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    assert snapshot(results) == before  # nothing half-written, no temp file left


def test_debug_shows_the_traceback_and_plain_runs_do_not(tmp_path):
    plain = hb("run", "--suite", "no-such-suite")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert len(error_lines(plain.stderr)) == 1
    debug = hb("run", "--suite", "no-such-suite", "--debug")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr and "no-such-suite" in debug.stderr


@pytest.mark.parametrize("option, message", [
    (["--cell-timeout", "-1"], "--cell-timeout"),
    (["--seed", "-3"], "--seed"),
    (["--device", "tpu:7"], "--device 'tpu:7' is not a torch device"),
    (["--only", "defense"], "--only"),
    (["--only", "attack=hagg"], "--only attack=hagg: no cell of this suite has attack 'hagg'; "
                                "did you mean hag"),
    (["--exclude", "defense=vanila"], "did you mean vanilla"),
])
def test_a_bad_option_is_refused_with_exit_2(option, message, tmp_path):
    res = hb("run", "--suite", "smoke", "--results", str(tmp_path / "r"), "--cache",
             str(tmp_path / "c"), *option)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_a_plugin_that_fails_to_import_is_refused_before_training(tmp_path):
    site = tmp_path / "site"
    info = site / "broken-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hashbench.attacks]\nbroken = no_such_module:X\n")
    suite = tmp_path / "s.toml"
    suite.write_text(LIST_SUITE.replace('"nus_wide"', '"mnist"').replace('"hag"', '"broken"'))
    res = hb("run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--cache",
             str(tmp_path / "c"), env={"PYTHONPATH": str(site)})
    assert res.returncode == 2, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "attack 'broken'" in lines[0] and "failed to load" in lines[0]
    assert not (tmp_path / "c").exists()  # nothing trained


def dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_temp_files_of_a_killed_run_are_cleaned_on_start(smoke_results, tmp_path):
    results, cache = copy_run(smoke_results, tmp_path)
    stale = results / FOLDER / f".hag.json.{dead_pid()}.k1ll3d00.tmp"
    stale.write_bytes(b'{"half": ')
    old = cache / "models" / ".abc.pt.0ld1.tmp"  # no pid in the name: stale once an hour old
    old.write_bytes(b"half a checkpoint")
    os.utime(old, (0, 0))
    live = results / FOLDER / f".clean.json.{os.getpid()}.l1ve0000.tmp"  # a live writer's
    live.write_bytes(b"in flight")
    before = {p: b for p, b in snapshot(results).items() if not p.name.endswith(".tmp")}
    res = hb("run", "--suite", "smoke", "--results", str(results), "--cache", str(cache))
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and not old.exists() and live.exists()
    assert "a temporary file a killed run left" in res.stderr
    after = snapshot(results)
    assert {p: after[p] for p in before} == before


def test_two_runs_on_one_folder_never_do_the_same_work(tmp_path):
    args = [sys.executable, "-m", "hashbench.cli", "run", "--suite", "smoke", "--results",
            str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    computed = trained = 0
    for _, err in outs:
        summary = next(ln for ln in err.splitlines() if ln.startswith("suite smoke"))
        computed += int(summary.split(": ")[1].split(" cells computed")[0])
        trained += int(summary.split(" failed, ")[1].split(" models trained")[0])
    assert (computed, trained) == (5, 1), outs
    assert hb("validate", str(tmp_path / "r")).returncode == 0
