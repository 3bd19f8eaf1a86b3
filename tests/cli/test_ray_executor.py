"""`hashbench run --executor ray` against a local Ray instance: the same records as a local run,
and a run that survives a killed worker. Skipped where the ray extra is not installed."""

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_run_cli import KILL_SUITE, hb, records

from hashbench.cli import cli
from hashbench.errors import ConfigError
from hashbench.harness.ray_executor import worker_runtime_env
from hashbench.harness.runner import Runner
from hashbench.harness.suites import load_suite
from hashbench.harness.work import RunOptions
from hashbench.records.io import load_record

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install "
                          "'hashbench[ray]' (make setup installs it)")

# One torch thread per cell on both sides: CPU numbers are identical only at the same count.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, runtime_env=worker_runtime_env())
    yield
    ray.shutdown()


def metrics(root: Path) -> dict[str, dict]:
    return {str(p.relative_to(root)): load_record(p)["metrics"] for p in records(root)}


def run_ray(*args):
    return CliRunner().invoke(cli, ["run", *args, "--executor", "ray", "--cpus-per-cell", "1"])


def test_smoke_suite_on_ray_matches_a_local_run_and_resumes(local_ray, tmp_path):
    local = hb("run", "--suite", "smoke", "--results", str(tmp_path / "local"), "--cache",
               str(tmp_path / "lc"), env=ONE_THREAD)
    assert local.returncode == 0, local.stderr
    args = ["--suite", "smoke", "--results", str(tmp_path / "ray"), "--cache",
            str(tmp_path / "rc")]
    res = run_ray(*args)
    assert res.exit_code == 0, res.output
    assert "5 cells computed, 0 already finished, 0 failed, 1 models trained" in res.output
    assert hb("validate", str(tmp_path / "ray")).returncode == 0
    got, want = metrics(tmp_path / "ray"), metrics(tmp_path / "local")
    assert got.keys() == want.keys() and len(got) == 5
    for name in want:
        assert got[name] == want[name], name
    clean = load_record(next((tmp_path / "ray").rglob("clean.json")))
    assert clean["cost"]["trained_models"] == 1  # the clean cell carries its model's training
    assert "worker" not in clean["provenance"]["command"]  # the driver's command, not Ray's
    assert set(clean["cost"]["phases"]) == {"training", "codes", "fitting", "attack", "metrics",
                                            "io"}
    assert clean["cost"]["phases"]["training"] > 0

    # a restarted driver redoes only what is missing, from the models in its own cache
    lost = next((tmp_path / "ray").rglob("hag.json"))
    lost.unlink()
    again = run_ray(*args)
    assert again.exit_code == 0, again.output
    assert "1 cells computed, 4 already finished, 0 failed, 0 models trained" in again.output
    assert load_record(lost)["metrics"] == want[str(lost.relative_to(tmp_path / "ray"))]


def test_a_one_thread_suite_on_ray_is_byte_identical_to_a_local_run(local_ray, tmp_path):
    """A suite fixing ``threads = 1`` runs its tasks on one thread even when each reserves two
    CPUs: same metrics, checkpoints and sidecars as a local one-process run."""
    from test_jobs_determinism import collected, one_thread_smoke, run

    suite = one_thread_smoke(tmp_path)
    want = run(tmp_path, "local", suite, 1, "2")
    res = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--results",
                                   str(tmp_path / "ray"), "--cache", str(tmp_path / "rc"),
                                   "--executor", "ray", "--cpus-per-cell", "2"])
    assert res.exit_code == 0, res.output
    got = collected(tmp_path / "ray")
    assert got == want and all(v[3] == 1 for v in got.values())


def _cell_workers() -> list[int]:
    """Ray worker processes busy with a cell (Ray titles them after the task)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::cell_task"):
                pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray workers through /proc")
def test_a_killed_worker_is_retried_and_the_run_completes(local_ray, tmp_path):
    suite_file = tmp_path / "killme.toml"
    suite_file.write_text(KILL_SUITE)
    suite = load_suite(str(suite_file))
    local = hb("run", "--suite", str(suite_file), "--results", str(tmp_path / "local"),
               "--cache", str(tmp_path / "lc"), env=ONE_THREAD)
    assert local.returncode == 0, local.stderr

    from hashbench.harness.ray_executor import RayExecutor

    runner = Runner(RunOptions(results_dir=tmp_path / "ray", cache_dir=tmp_path / "rc"))
    outcome = {}
    driver = threading.Thread(target=lambda: outcome.update(
        summary=runner.run(suite, suite.cells(), RayExecutor(cpus_per_cell=1, max_retries=3))))
    driver.start()
    killed = None
    deadline = time.time() + 300
    while killed is None and driver.is_alive() and time.time() < deadline:
        busy = _cell_workers()
        if busy:
            time.sleep(0.5)  # let it get into the attack
            if busy[0] in _cell_workers():
                os.kill(busy[0], signal.SIGKILL)
                killed = busy[0]
        time.sleep(0.05)
    driver.join(600)
    assert killed is not None, "no cell task was caught running"
    summary = outcome["summary"]
    assert not summary.failed and len(summary.written) == 5  # clean + 4 attacks
    assert hb("validate", str(tmp_path / "ray")).returncode == 0
    assert metrics(tmp_path / "ray") == metrics(tmp_path / "local")


def test_a_model_whose_training_fails_fails_its_cells_with_the_cause(local_ray, tmp_path):
    suite_file = tmp_path / "diverge.toml"
    suite_file.write_text(KILL_SUITE.replace('name = "killme"', 'name = "diverge"')
                          .replace("lr = 0.001", "lr = 1e30"))
    res = run_ray("--suite", str(suite_file), "--results", str(tmp_path / "r"), "--cache",
                  str(tmp_path / "c"))
    assert res.exit_code == 1
    recs = [json.loads(p.read_text()) for p in records(tmp_path / "r")]
    assert len(recs) == 5 and all(r["status"] == "failed" for r in recs)
    assert all("diverged" in r["error"] for r in recs if r["cell"]["attack"] != "worst_case")


def test_missing_ray_is_a_one_line_error(monkeypatch):
    import sys

    from hashbench.harness.ray_executor import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'hashbench\[ray\]'"):
        require_ray()


def test_a_worker_whose_code_differs_from_the_drivers_is_refused(tmp_path):
    """The worker recomputes the model key from its own code; a mismatch must not silently
    train a different model (cell_task is called in-process: the check needs no cluster)."""
    from hashbench.errors import HashbenchError
    from hashbench.harness.ray_executor import cell_task

    class Tracker:
        class started:
            @staticmethod
            def remote(label):
                pass

    cell = load_suite("smoke").cells()[0]
    options = RunOptions(results_dir=tmp_path / "r", cache_dir=tmp_path / "c")
    import torch

    threads = torch.get_num_threads()  # cell_task pins the (here: this) process's threads
    try:
        with pytest.raises(HashbenchError, match="install the same hashbench and plugins on"):
            cell_task(options, cell, "0" * 64, ("f" * 64, {}, 0, {}), threads, Tracker, "x", ())
    finally:
        torch.set_num_threads(threads)
