"""The work of one cell, as executors see it: plan it, compute it into a record, commit the
record atomically, tell whether it is finished, lock it against another run, and train its model.

``CellWork`` is the narrow interface every executor (here, ``--jobs`` worker processes, Ray
tasks) computes through; it holds the models (``Provisioner``) and the options of the run, and
builds each cell's record in one place (``record``) from the plan and what the measurement
found (``Outcome``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hashbench.cpu_kernels import mismatch
from hashbench.data import RetrievalData
from hashbench.data.embedded import data_root_from_env
from hashbench.errors import HashbenchError, one_line
from hashbench.harness import failpoints
from hashbench.harness.cell_record import Outcome, record, start_outcome
from hashbench.harness.guards import CellTimeout, ModelChangedError, time_limit
from hashbench.harness.locks import FileLock, lock_for
from hashbench.harness.measures import MEASURES, CellContext
from hashbench.harness.plan import CellPlan, plan_cell
from hashbench.harness.provenance import provenance, utc_now
from hashbench.harness.provision import HandedInModel, ModelIdentity, Provisioner
from hashbench.harness.store import ModelStore
from hashbench.harness.suites import CellSpec
from hashbench.harness.timing import PhaseClock
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.records.io import (
    load_record,
    sidecar_bytes,
    sidecar_path,
    write_result,
    write_sidecar,
)
from hashbench.records.types import Record, SidecarRef
from hashbench.registry import Registry, attacks, defenses, methods


@dataclass(kw_only=True)
class RunOptions:
    results_dir: Path = Path("results")
    cache_dir: Path = Path(".hashbench-cache")
    device: str = "auto"
    force: bool = False
    fail_fast: bool = False
    data_root: Path | None = None
    amp: bool = False  # mixed-precision training; attacks and scoring stay fp32
    cell_timeout: float | None = None  # seconds per cell; None: the suite's, 0: no limit
    # take a model the zoo publishes (same cache key, sha256-checked) instead of training it;
    # reproduce turns it off, since it re-trains to check the published checkpoints
    zoo: bool = True
    # torch (and numba) threads for the whole run (None: $OMP_NUM_THREADS if set, else the
    # process's own); a suite that fixes its threads (threads = 1) keeps them
    threads: int | None = None


@dataclass
class RunSummary:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    trained_models: int = 0
    from_zoo: dict[str, int] = field(default_factory=dict)  # zoo folder -> models taken

    def took_from_zoo(self, counts: dict[str, int]) -> None:
        for root, n in counts.items():
            self.from_zoo[root] = self.from_zoo.get(root, 0) + n


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise HashbenchError(f"--device {name!r} is not a torch device (auto, cpu, cuda, cuda:1)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HashbenchError(f"--device {name}: CUDA is not available here; use --device cpu")
    return device


def failed_path(path: Path) -> Path:
    """Where a failed recomputation of a finished cell goes: ``.<attack>.failed.json`` beside
    it (a dot file, so validate and report never take it for the cell's record)."""
    return path.with_name(f".{path.stem}.failed.json")


class CellWork:
    """Computes and commits cells: what an executor is given (see the module docstring)."""

    def __init__(self, options: RunOptions, progress: Progress = NULL_PROGRESS,
                 handed_in: HandedInModel | None = None):
        self.opt, self.progress = options, progress
        self.device = resolve_device(options.device)
        self.clock = PhaseClock()
        self.cell_timeout = options.cell_timeout or None
        self.threads: int | None = None  # the suite's torch threads per cell (Runner.run)
        self.started_at = time.time()
        self.models = Provisioner(ModelStore(options.cache_dir), self.device, progress,
                                  options.data_root or data_root_from_env(), options.amp,
                                  self.clock, handed_in, zoo=None if options.zoo else False)
        self.context = CellContext(self.models, self.clock, progress)

    @property
    def trained(self) -> int:
        """Models trained by this process so far."""
        return self.models.trained

    def plan(self, cell: CellSpec, data: RetrievalData) -> CellPlan:
        return plan_cell(cell, data, self.opt.results_dir, self.opt.amp)

    def identity(self, plan: CellPlan) -> ModelIdentity:
        """The cache key of ``plan``'s model (and of the models it fine-tunes), without
        training anything."""
        return self.models.identity(plan.cell, plan.data, plan.cell.defense)

    def train(self, cell: CellSpec, data: RetrievalData) -> tuple[str, int, dict[str, float]]:
        """Train (or load) ``cell``'s model into the cache: (its key, models trained, seconds
        by phase)."""
        before, clock = self.models.trained, self.clock.snapshot()
        key = self.models.get(cell, data, cell.defense).key
        return key, self.models.trained - before, self.clock.since(clock)

    def model_files(self, key: str) -> dict[str, bytes] | None:
        """The cache's files of model ``key`` (to send to another machine), or None."""
        return self.models.store.export(key) if self.models.store.has(key) else None

    def add_model_files(self, files: dict[str, bytes]) -> None:
        """Model files made on another machine, put into this cache."""
        self.models.store.import_files(files)

    def compute(self, plan: CellPlan) -> Record:
        """Compute one cell into a record (its sidecar is written beside ``plan.path``); a
        plugin or data error makes a failed record instead of an exception."""
        started, t0 = utc_now(), time.perf_counter()
        trained_before, phases_before = self.models.trained, self.clock.snapshot()
        out = self.start(plan)
        try:
            with time_limit(self.cell_timeout, f"cell {plan.path}"):
                arrays = MEASURES[plan.measure](plan, self.context, out)
                with self.clock.phase("io"):
                    out.sidecar = SidecarRef.from_dict(write_sidecar(sidecar_path(plan.path),
                                                                     arrays))
                failpoints.hit("sidecar-written")
        except CellTimeout as err:
            out.fail(f"CellTimeout: {err} (a plugin that never returns, or too small a limit: "
                     "raise it with --cell-timeout SECONDS)")
            self.models.forget(out.model.cache_key)
        except Exception as err:  # noqa: BLE001 - any failure of a cell is its record's
            if isinstance(err, ModelChangedError):  # later cells get the checkpoint again
                self.models.forget(out.model.cache_key)
            out.fail(one_line(err))
        return record(plan, out, self._provenance(plan, started), time.perf_counter() - t0,
                      self.models.trained - trained_before, self.clock.since(phases_before))

    def start(self, plan: CellPlan) -> Outcome:
        """The outcome of ``plan`` before its model is provisioned."""
        return start_outcome(plan)

    def failed_record(self, plan: CellPlan, error: str, started: str) -> Record:
        """The record of a cell that could not run at all (its model's training task failed,
        or the worker computing it died more often than retries allow)."""
        out = self.start(plan)
        out.fail(error)
        return record(plan, out, self._provenance(plan, started))

    def _provenance(self, plan: CellPlan, started: str) -> dict:
        return provenance(self.device, plan.seed, started, self.opt.amp)

    def commit(self, plan: CellPlan, rec: Record, summary: RunSummary,
               sidecar: bytes | None = None) -> None:
        """Write the record atomically (after ``sidecar``, its bytes when they were made on
        another machine) and count it."""
        if rec.status == "failed" and _good_record(plan.path):
            # a failed recomputation (--force) never replaces a finished record: the failure
            # goes beside it, hidden from validate and report
            aside = failed_path(plan.path)
            write_result(aside, rec)
            summary.failed.append((plan.path, f"{rec.error} (the finished record is kept; "
                                              f"this failure is in {aside.name})"))
            self.progress.log(f"cell failed: {plan.path}: {rec.error}; kept the finished "
                              f"record, failure in {aside}")
            return
        write_result(plan.path, rec, sidecar)
        if rec.status == "failed":
            self.progress.log(f"cell failed: {plan.path}: {rec.error}")
            summary.failed.append((plan.path, rec.error or "failed"))
        else:
            failed_path(plan.path).unlink(missing_ok=True)
            summary.written.append(plan.path)

    def lock(self, plan: CellPlan) -> FileLock:
        """The lock that one run at a time holds while computing ``plan``."""
        return lock_for(self.opt.cache_dir, "record", str(plan.path.resolve()))

    def finished(self, plan: CellPlan) -> bool:
        """Whether ``plan``'s record is finished now (same config hash, status ok, its
        sidecar intact, its plugins' versions unchanged). Under --force only a record written
        since this run began counts (another run may have written it)."""
        if not self._finished(plan.path, plan.config_hash):
            return False
        return not self.opt.force or plan.path.stat().st_mtime >= self.started_at

    def _finished(self, path: Path, chash: str) -> bool:
        if not path.is_file():
            return False
        try:
            rec = load_record(path)
        except HashbenchError as err:
            self.progress.log(f"{err}: recomputing the cell")
            return False  # a malformed old record is recomputed, not trusted
        if rec["status"] != "ok" or rec["config_hash"] != chash:
            return False
        if rec["sidecar"]:  # a record without its per-query arrays is not finished
            try:
                sidecar_bytes(path, rec)
            except HashbenchError as err:
                self.progress.log(f"{err}: recomputing the cell")
                return False
        changed = _changed_plugin(rec) or _computed_otherwise(rec, self.threads)
        if changed:
            self.progress.log(f"{path}: {changed}; recomputing the cell")
        return changed is None


def _computed_otherwise(rec: dict, threads: int | None) -> str | None:
    """Why ``rec`` was not computed the way this run computes (None when it was): on other CPU
    kernels than this pinned process runs, or at another thread count than the suite
    fixes. Either gives other bytes, so such a record (left by a script that imported torch
    first, say, writing into the same folder) is recomputed rather than taken as finished. An
    unpinned process (hashbench.benchmark from such a script) checks neither: it could not
    recompute the pinned bytes anyway."""
    kernels = rec["provenance"].get("cpu_kernels") or {}
    # the same kernels, not merely pinned ones: an ARM machine's records are recomputed by an
    # x86 run (and its own are kept by an ARM run), and pinned x86 runs agree with each other
    here = torch.backends.cpu.get_cpu_capability()
    pinned = mismatch() is None
    if "aten" in kernels and pinned and str(kernels["aten"]).upper() != here.upper():
        return f"computed on {kernels['aten']} CPU kernels, not this run's {here}"
    # MKL's path: a record from before its pin (MKL_CBWR null) ran MKL's AVX-512 path on an
    # AVX-512 machine, its AVX2 path elsewhere; which one cannot be told afterwards. Checked
    # where the suite promises the same bytes on any machine (it fixes threads: v3); an older
    # suite's published records stay finished, as they were computed
    mkl = os.environ.get("MKL_CBWR")
    if threads is not None and "aten" in kernels and pinned and kernels.get("MKL_CBWR") != mkl:
        return f"computed with MKL_CBWR={kernels.get('MKL_CBWR')}, not this run's {mkl}"
    if threads is not None and kernels.get("threads", threads) != threads:
        return f"computed at {kernels['threads']} torch threads, the suite fixes {threads}"
    return None


def _good_record(path: Path) -> bool:
    try:
        return path.is_file() and load_record(path)["status"] == "ok"
    except HashbenchError:
        return False


def _changed_plugin(rec: dict) -> str | None:
    """Which plugin that computed ``rec`` has another version now (its results changed), if
    any: the config hash holds the suite's settings; the versions are checked here, so that
    records of unchanged plugins keep the hashes they were published with."""
    used: list[tuple[Registry, dict | None]] = [
        (attacks, rec.get("attack")), (defenses, rec["model"]["defense"]),
        (methods, rec["model"].get("method_plugin"))]
    for registry, ref in used:
        if not ref or ref["name"] not in registry.names():
            continue  # none, or handed in (hashbench.benchmark), or no longer installed
        now = registry.get(ref["name"]).version_for(ref.get("params") or {})
        if now != int(ref["version"]):
            return (f"{registry.kind} {ref['name']} is version {now} now, the record's is "
                    f"version {ref['version']}")
    return None
