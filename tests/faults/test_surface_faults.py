"""Fault injection on the surfaces added since the first fault suite: option values that are not
numbers, a codes cache entry cut short, image files of a list dataset that are missing or broken,
a Ray head that does not answer, a plugin selfcheck that never returns. Each ends in one line
naming the thing and the fix, exit 2 for bad input and 1 for failed cells or checks."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from inprocess import hb  # tests/inprocess.py
from PIL import Image
from test_plugin_faults import install  # tests/faults/test_plugin_faults.py

from hashbench.errors import HashbenchError
from hashbench.harness.ray_executor import check_reachable

SMOKE_MODEL = "smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(("error:", "internal error:"))]


def copy_run(smoke_results: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(smoke_results / "results", tmp_path / "results")
    shutil.copytree(smoke_results / "cache", tmp_path / "cache")
    return tmp_path / "results", tmp_path / "cache"


@pytest.mark.parametrize("command, option, message", [
    ("run", ["--cell-timeout", "nan"], "'nan' is not a finite number"),
    ("run", ["--cell-timeout", "inf"], "--cell-timeout"),
    ("run", ["--seed", str(2**63)], "--seed"),
    ("run", ["--seed", str(2**64)], "--seed"),
    ("run", ["--executor", "ray", "--cpus-per-cell", "nan"], "--cpus-per-cell"),
    ("reproduce", ["--tolerance", "nan"], "'nan' is not a finite number"),
    ("selfcheck", ["--attack", "hag", "--timeout", "nan"], "--timeout"),
])
def test_an_option_that_is_not_a_usable_number_is_refused(command, option, message, tmp_path):
    target = {"run": ["--suite", "smoke", "--results", tmp_path / "r", "--cache", tmp_path / "c"],
              "reproduce": [tmp_path], "selfcheck": []}[command]
    res = hb(command, *target, *option)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_reproduce_refuses_jobs_for_records_not_computed_on_one_thread(tmp_path):
    """Worker processes run one thread each: records made on more would never match, so the
    command says so before computing anything."""
    shipped = Path(__file__).resolve().parents[2] / "results" / "standard-v2"
    record = next(shipped.rglob("hag.json"))
    res = hb("reproduce", str(record), "--jobs", "2", "--scratch", str(tmp_path / "s"))
    assert res.returncode != 0
    assert error_lines(res.stderr) == [
        "error: --jobs 2 computes every cell on one thread, but these records were not all "
        "computed on one thread (their provenance's cpu_kernels.threads); use --jobs 1"]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("damage", ["truncated", "not a torch file"])
def test_a_broken_codes_cache_entry_is_named_with_the_fix(damage, smoke_results, tmp_path):
    results, cache = copy_run(smoke_results, tmp_path)
    (results / SMOKE_MODEL / "hag.json").unlink()
    entry = next((cache / "codes").glob("*.pt"))
    data = entry.read_bytes()
    entry.write_bytes({"truncated": data[: len(data) // 2],
                       "not a torch file": b"PK\x03\x04 garbage"}[damage])
    res = hb("run", "--suite", "smoke", "--results", results, "--cache", cache)
    assert res.returncode == 1, res.stderr  # the cell that needs the codes failed, named
    rec = json.loads((results / SMOKE_MODEL / "hag.json").read_text())
    assert rec["status"] == "failed"
    assert f"codes cache entry {entry} is unreadable" in rec["error"]
    assert "delete it and run again" in rec["error"]
    entry.unlink()  # the fix the message gives works
    again = hb("run", "--suite", "smoke", "--results", results, "--cache", cache)
    assert again.returncode == 0, again.stderr


LIST_SUITE = """
name = "images"
version = 1
seed = 0
[[groups]]
datasets = ["nus_wide"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = []
[defense.vanilla]
epochs = 1
batch_size = 4
"""


def list_dataset(root: Path, damage: str) -> Path:
    """A four-image nus_wide list folder whose third image is damaged as ``damage`` says."""
    folder = root / "nus_wide"
    (folder / "img").mkdir(parents=True)
    lines = []
    for i in range(4):
        path = folder / "img" / f"{i}.jpg"
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(path)
        lines.append(f"img/{i}.jpg " + " ".join("1" if k == i else "0" for k in range(21)))
    bad = folder / "img" / "2.jpg"
    if damage == "missing":
        bad.unlink()
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:40])
    elif damage == "not an image":
        bad.write_bytes(b"this is not a jpeg")
    for name in ("train.txt", "test.txt", "database.txt"):
        (folder / name).write_text("\n".join(lines) + "\n")
    return bad


def test_a_broken_image_read_by_a_loader_worker_is_one_line_naming_it(tmp_path):
    """Through `hashbench run`: the image is read in a DataLoader worker process, whose error
    comes back wrapped in a traceback text; the record holds the worker's own line."""
    bad = list_dataset(tmp_path / "data", "missing")
    suite = tmp_path / "images.toml"
    suite.write_text(LIST_SUITE)
    res = hb("run", "--suite", suite, "--data-root", tmp_path / "data", "--results",
             tmp_path / "r", "--cache", tmp_path / "c")
    assert res.returncode == 1, res.stderr
    rec = json.loads(next((tmp_path / "r").rglob("clean.json")).read_text())
    assert rec["status"] == "failed"
    assert f"cannot read image {bad}" in rec["error"] and "hashbench data prepare" in rec["error"]
    assert "Original Traceback" not in rec["error"] and "DataLoader" not in rec["error"]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("damage", ["missing", "truncated", "not an image"])
def test_every_kind_of_broken_image_is_a_data_error_naming_the_file(damage, tmp_path):
    from hashbench.data.literature import _image_loader
    from hashbench.errors import DataError, one_line

    bad = list_dataset(tmp_path / "data", damage)
    load = _image_loader(tmp_path / "data" / "nus_wide", [f"img/{i}.jpg" for i in range(4)],
                         "nus_wide")
    assert load(0).shape[-2:] == (224, 224)
    with pytest.raises(DataError) as err:
        load(2)
    line = one_line(err.value, with_type=False)
    assert line.startswith(f"nus_wide: cannot read image {bad}") and "data prepare" in line


def test_an_unreachable_ray_head_is_one_line_and_fast(tmp_path):
    pytest.importorskip("ray")
    t0 = time.perf_counter()
    res = hb("run", "--suite", "smoke", "--results", tmp_path / "r", "--cache", tmp_path / "c",
             "--executor", "ray", "--address", "127.0.0.1:1")
    assert res.returncode == 2, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "no Ray head answers at 127.0.0.1:1" in lines[0], res.stderr
    assert time.perf_counter() - t0 < 60


@pytest.mark.parametrize("address", ["no-port-here", "ray://", "host:port"])
def test_a_malformed_ray_address_is_refused(address):
    with pytest.raises(HashbenchError, match="is not HOST:PORT"):
        check_reachable(address, 1.0)


@pytest.mark.parametrize("server", ["silent", "not grpc"])
def test_a_listener_that_is_not_a_ray_head_is_refused_within_the_limit(server):
    """A port that accepts connections but never answers (or answers something else) would
    keep Ray's own client retrying for minutes: refused within the connect limit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    if server == "not grpc":
        def reply():
            conn, _ = listener.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()
        threading.Thread(target=reply, daemon=True).start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(HashbenchError, match="no Ray head answers"):
            check_reachable(f"127.0.0.1:{listener.getsockname()[1]}", 1.0)
    finally:
        listener.close()
    assert time.perf_counter() - t0 < 10


def test_selfcheck_of_a_plugin_that_never_returns_stops_at_its_time_limit(tmp_path):
    env = install(tmp_path / "site")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "selfcheck", "--attack", "hang",
                          "--timeout", "1"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 1, res.stderr
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "selfcheck of attack 'hang' ran past its time limit of 1 s" \
        in lines[0], res.stderr
    assert "--timeout SECONDS" in lines[0] and "Traceback" not in res.stderr
    assert time.perf_counter() - t0 < 120


def test_failpoints_are_inert_unless_set(monkeypatch):
    from hashbench.harness import failpoints

    monkeypatch.delenv(failpoints.ENV, raising=False)
    failpoints.hit("sidecar-written")  # would stop this process if it were armed
    assert not failpoints.enabled()
    assert os.environ.get(failpoints.ENV) is None


def test_a_real_ray_head_passes_the_reachability_check():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        check_reachable(ray.get_runtime_context().gcs_address, 5.0)  # raises if refused
    finally:
        ray.shutdown()
