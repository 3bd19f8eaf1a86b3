"""``hashbench run``: expand a suite into cells, skip the finished ones, compute the rest.

Each cell's record is written atomically as soon as the cell ends, so an interrupted run (Ctrl-C,
kill -9) loses at most the cell in progress, and the next run redoes only unfinished cells. A
failing cell (plugin error, NaN codes, threat-model violation) is recorded as failed and the run
goes on, unless ``fail_fast``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hashbench.data import RetrievalData, load_dataset
from hashbench.data.embedded import data_root_from_env
from hashbench.errors import (
    ConfigError,
    DataMissing,
    HashbenchError,
    one_line,
)
from hashbench.harness import cell_record, failpoints
from hashbench.harness.cell_record import CellPlan
from hashbench.harness.cells import attack_eps, protocol_hash, record_path, resolved_topk
from hashbench.harness.evaluate import (
    QUERY_SIDES,
    attack_metrics,
    clean_metrics,
    curve_arrays,
    database_sample,
    worst_case_metrics,
)
from hashbench.harness.executor import Executor, LocalExecutor
from hashbench.harness.guards import CellTimeout, ModelChangedError, time_limit
from hashbench.harness.locks import FileLock, clean_stale_temp_files, lock_for
from hashbench.harness.provenance import provenance, utc_now
from hashbench.harness.provision import HandedInModel, Provisioner
from hashbench.harness.store import AttackStates, ModelStore
from hashbench.harness.suites import AGGREGATES, CLEAN, CellSpec, Suite
from hashbench.harness.timing import PhaseClock
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.records.io import (
    config_hash,
    load_record,
    read_sidecar,
    sidecar_bytes,
    sidecar_path,
    write_result,
    write_sidecar,
)
from hashbench.records.types import PluginRef, Record, SidecarRef
from hashbench.registry import attacks, defenses, methods, plugin_ref
from hashbench.training import encode_queries


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


@dataclass
class RunSummary:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    trained_models: int = 0


def failed_path(path: Path) -> Path:
    """Where a failed recomputation of a finished cell goes: ``.<attack>.failed.json`` beside
    it (a dot file, so validate and report never take it for the cell's record)."""
    return path.with_name(f".{path.stem}.failed.json")


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


class Runner:
    def __init__(self, options: RunOptions, progress: Progress = NULL_PROGRESS,
                 handed_in: HandedInModel | None = None):
        if failpoints.enabled():  # the kill tests' stop points (hashbench.harness.failpoints)
            progress = failpoints.FailpointProgress(progress)
        self.opt, self.progress = options, progress
        self.device = resolve_device(options.device)
        self.clock = PhaseClock()
        self.cell_timeout = options.cell_timeout or None
        self.started_at = time.time()
        self.threads: int | None = None  # the suite's torch threads per cell, once run() knows
        self.provisioner = Provisioner(ModelStore(options.cache_dir), self.device, progress,
                                       options.data_root or data_root_from_env(), options.amp,
                                       self.clock, handed_in,
                                       zoo=None if options.zoo else False)

    def run(self, suite: Suite, cells: list[CellSpec], executor: Executor | None = None
            ) -> RunSummary:
        """Compute every unfinished cell of ``cells`` with ``executor`` (default: here, in
        order). Finished cells (same config hash, status ok) are skipped."""
        summary = RunSummary()
        self.started_at = time.time()
        if self.opt.cell_timeout is None:
            self.cell_timeout = suite.cell_timeout
        self.threads = suite.threads
        if suite.threads:  # the protocol's thread count, in this process too (--jobs 1)
            from hashbench.harness.threads import hold_threads

            hold_threads(suite.threads)
        for stale in clean_stale_temp_files(self.opt.results_dir, self.opt.cache_dir):
            self.progress.log(f"removed {stale}, a temporary file a killed run left")
        self.progress.start("matrix", len(cells), f"suite {suite.name} v{suite.version}")
        pending = []
        for cell in cells:
            item = self.pending(cell, summary)
            if item is None:
                self.progress.advance("matrix")
            else:
                pending.append(item)
        (executor or LocalExecutor()).execute(self, pending, summary)
        self.progress.finish("matrix")
        summary.trained_models += self.provisioner.trained  # plus what workers reported
        return summary

    def pending(self, cell: CellSpec, summary: RunSummary) -> CellPlan | None:
        """The cell as work to do, or None when it is finished or its dataset is unavailable."""
        if cell.dataset in summary.unavailable:
            return None
        try:
            data = load_dataset(cell.dataset, self.opt.data_root)
        except DataMissing as err:  # not placed yet: skipped; malformed files stop the run
            summary.unavailable[cell.dataset] = str(err)
            self.progress.log(f"skipping dataset {cell.dataset}: {err}")
            return None
        if cell.direction and not data.has_texts:
            key = f"{cell.dataset} (image-text)"
            if key not in summary.unavailable:
                summary.unavailable[key] = (
                    f"{cell.dataset} has no tag vectors, so its image-text cells cannot run; "
                    "add train_text.npy, test_text.npy and database_text.npy beside its list files")
                self.progress.log(f"skipping image-text cells of {cell.dataset}: "
                                  f"{summary.unavailable[key]}")
            return None
        plan = self.plan(cell, data)
        if not self.opt.force and self._finished(plan.path, plan.config_hash):
            summary.skipped.append(plan.path)
            return None
        return plan

    def plan(self, cell: CellSpec, data: RetrievalData) -> CellPlan:
        """Every value of ``cell`` resolved, once: what the rest of the run reads."""
        if cell.queries is not None and cell.queries > len(data.query):
            raise ConfigError(f"suite {cell.suite}: queries = {cell.queries}, but {data.name}'s "
                              f"query split holds {len(data.query)}; lower it (or drop it for "
                              "the whole split)")
        eps = attack_eps(cell, data.eps)
        text = cell.attack not in (CLEAN, *AGGREGATES) and cell.query_modality == "text"
        return CellPlan(cell, data, record_path(self.opt.results_dir, cell, data.eps),
                        self._config_hash(cell, data), protocol_hash(cell, data), eps,
                        resolved_topk(cell, data),
                        {"flips": data.text_flips} if text else {"eps": eps})

    def compute(self, plan: CellPlan) -> Record:
        """Compute one cell into a record (its sidecar is written beside ``plan.path``); a
        plugin or data error makes a failed record instead of an exception."""
        started, t0 = utc_now(), time.perf_counter()
        trained_before, phases_before = self.provisioner.trained, self.clock.snapshot()
        out = self.start(plan)
        try:
            with time_limit(self.cell_timeout, f"cell {plan.path}"):
                self._compute(plan, out)
        except CellTimeout as err:
            out.fail(f"CellTimeout: {err} (a plugin that never returns, or too small a limit: "
                     "raise it with --cell-timeout SECONDS)")
            self.provisioner.forget(out.model.cache_key)
        except Exception as err:  # noqa: BLE001 - any failure of a cell is its record's
            if isinstance(err, ModelChangedError):  # later cells get the checkpoint again
                self.provisioner.forget(out.model.cache_key)
            out.fail(one_line(err))
        return cell_record.record(plan, out, self._provenance(plan, started),
                                  time.perf_counter() - t0,
                                  self.provisioner.trained - trained_before,
                                  self.clock.since(phases_before))

    def failed_record(self, plan: CellPlan, error: str, started: str) -> Record:
        """The record of a cell that could not run at all (its model's training task failed,
        or the worker computing it died more often than retries allow)."""
        out = self.start(plan)
        out.fail(error)
        return cell_record.record(plan, out, self._provenance(plan, started))

    def _provenance(self, plan: CellPlan, started: str) -> dict:
        return provenance(self.device, plan.cell.seed, started, self.opt.amp)

    def commit(self, item: CellPlan, record: Record, summary: RunSummary,
               sidecar: bytes | None = None) -> None:
        """Write the record atomically (after ``sidecar``, its bytes when they were made on
        another machine) and count it."""
        if record.status == "failed" and self._good_record(item.path):
            # a failed recomputation (--force) never replaces a finished record: the failure
            # goes beside it, hidden from validate and report
            aside = failed_path(item.path)
            write_result(aside, record)
            summary.failed.append((item.path, f"{record.error} (the finished record is kept; "
                                               f"this failure is in {aside.name})"))
            self.progress.log(f"cell failed: {item.path}: {record.error}; kept the finished "
                              f"record, failure in {aside}")
            return
        write_result(item.path, record, sidecar)
        if record.status == "failed":
            self.progress.log(f"cell failed: {item.path}: {record.error}")
            summary.failed.append((item.path, record.error))
        else:
            failed_path(item.path).unlink(missing_ok=True)
            summary.written.append(item.path)

    def record_lock(self, item: CellPlan) -> FileLock:
        """The lock that one run at a time holds while computing ``item``."""
        return lock_for(self.opt.cache_dir, "record", str(item.path.resolve()))

    def finished(self, item: CellPlan) -> bool:
        """Whether ``item``'s record is finished now (another run may have written it)."""
        if not self._finished(item.path, item.config_hash):
            return False
        # under --force only a record written since this run began counts as finished
        return not self.opt.force or item.path.stat().st_mtime >= self.started_at

    @staticmethod
    def _good_record(path: Path) -> bool:
        try:
            return path.is_file() and load_record(path)["status"] == "ok"
        except HashbenchError:
            return False

    def _config_hash(self, cell: CellSpec, data) -> str:
        """What a finished record must match to be reused; an fp32 record is not an amp one."""
        return config_hash({"cell": cell.to_dict(), "protocol_hash": protocol_hash(cell, data),
                            **({"precision": "amp"} if self.opt.amp else {})})

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
        changed = _changed_plugin(rec)
        if changed:
            self.progress.log(f"{path}: {changed}; recomputing the cell")
        return changed is None

    def start(self, plan: CellPlan) -> cell_record.Outcome:
        """The outcome of ``plan`` before its model is provisioned (the method's parameters
        as records hold them: an image method's pinned ones, an image-text plugin's)."""
        cell = plan.cell
        try:
            _, part, method_ref = cell.track.method(cell)
            hash_params = part["hash_params"] if method_ref is None else method_ref["params"]
        except HashbenchError:  # an unknown method fails the cell when its model is provisioned
            hash_params, method_ref = {}, None
        return cell_record.start(plan, hash_params, method_ref)

    def model_and_clean(self, plan: CellPlan, out: cell_record.Outcome, q_idx: torch.Tensor):
        """The cell's model (trained or cached) and the clean metrics of the queries ``q_idx``,
        written into ``out``; every kind of cell starts here."""
        cell, data = plan.cell, plan.data
        prov = self.provisioner.get(cell, data, cell.defense)
        out.model = dataclasses.replace(
            out.model, defense=PluginRef.from_dict(prov.defense_ref, "model.defense"),
            checkpoint_sha256=prov.checkpoint_sha256, cache_key=prov.key,
            **({"parent_checkpoint_sha256": prov.parent_sha256} if prov.parent_sha256 else {}))
        prov = cell.track.view(prov, cell.direction)
        with self.clock.phase("codes"):
            q_codes = encode_queries(prov.model, data.query.subset(q_idx), cell.query_modality)
        labels = data.query.labels[q_idx].to(self.device)
        targets = data.target_labels[q_idx].to(self.device)
        with self.clock.phase("metrics"):
            clean, arrays = clean_metrics(q_codes, prov, data, labels, targets, plan.topk,
                                          cell.ties)
        out.metrics.update(clean)
        return prov, q_codes, labels, arrays

    def _compute(self, plan: CellPlan, out: cell_record.Outcome) -> None:
        cell, data = plan.cell, plan.data
        q_idx = torch.arange(len(data.query) if cell.queries is None
                             else min(cell.queries, len(data.query)))
        prov, q_codes, labels, arrays = self.model_and_clean(plan, out, q_idx)
        if cell.attack == CLEAN:
            db_labels = data.database.labels.to(self.device)
            with self.clock.phase("metrics"):
                arrays.update(curve_arrays(q_codes, prov.codes["database"], labels, db_labels,
                                           cell.ties))
            arrays.update(database_sample(prov.codes["database"], db_labels))
            arrays["labels"] = labels.to(torch.uint8).cpu().numpy()
        elif cell.attack in AGGREGATES:
            with self.clock.phase("io"):
                members = {a: read_sidecar(p, load_record(p))["ap"] for a, p in
                           self._member_paths(cell, plan.path).items()}
            wc, wc_arrays = worst_case_metrics(members)
            out.metrics.update(wc)
            arrays.update(wc_arrays)
        else:
            attack = self._attack(plan)
            m, a, cost = attack_metrics(attack, prov, data, q_idx, plan.topk, plan.scope,
                                        cell.seed, self.progress, self.clock,
                                        QUERY_SIDES[cell.query_modality], plan.budget,
                                        source=lambda: self.provisioner.source_model(cell, data),
                                        surrogate=lambda backbone, method:
                                        self.provisioner.surrogate_model(cell, data, backbone,
                                                                         method),
                                        cache=AttackStates(self.provisioner.store, prov.key),
                                        ties=cell.ties)
            out.metrics.update(m)
            arrays.update(a)
            out.cost.update(cost)
            out.attack = PluginRef.from_dict(plugin_ref(attacks, cell.attack, attack), "attack")
        with self.clock.phase("io"):
            out.sidecar = SidecarRef.from_dict(write_sidecar(sidecar_path(plan.path), arrays))
        failpoints.hit("sidecar-written")

    def _attack(self, plan: CellPlan):
        """The cell's attack at the plan's budget for its query modality: ``eps`` for image
        queries, ``flips`` (the dataset's text budget) for text queries."""
        cell = plan.cell
        modality = attacks.get(cell.attack).modality
        if modality != cell.query_modality:
            where = ("an image-text group's text_attacks" if modality == "text"
                     else "attacks (image queries)")
            raise ConfigError(f"attack '{cell.attack}' perturbs {modality} queries, but this "
                              f"cell attacks {cell.query_modality} queries; list it under {where}")
        return attacks.create(cell.attack, **{**cell.attack_params, **plan.budget})

    def _member_paths(self, cell: CellSpec, path: Path) -> dict[str, Path]:
        out = {}
        for name in cell.worst_case_of:
            p = path.with_name(f"{name}.json")
            if not p.is_file():
                raise HashbenchError(f"worst case needs {p}; run the '{name}' cell first")
            rec = load_record(p)
            if rec["status"] != "ok":
                raise HashbenchError(f"worst case needs {p}, which failed: {rec['error']}")
            out[name] = p
        return out


def _changed_plugin(rec: dict) -> str | None:
    """Which plugin that computed ``rec`` has another version now (its results changed), if
    any: the config hash holds the suite's settings; the versions are checked here, so that
    records of unchanged plugins keep the hashes they were published with."""
    used = [(attacks, rec.get("attack")), (defenses, rec["model"]["defense"]),
            (methods, rec["model"].get("method_plugin"))]
    for registry, ref in used:
        if not ref or ref["name"] not in registry.names():
            continue  # none, or handed in (hashbench.benchmark), or no longer installed
        now = int(registry.get(ref["name"]).version)
        if now != int(ref["version"]):
            return (f"{registry.kind} {ref['name']} is version {now} now, the record's is "
                    f"version {ref['version']}")
    return None

