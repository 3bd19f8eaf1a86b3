"""``hashbench run``: expand a suite into cells, skip the finished ones, compute the rest.

Each cell's record is written atomically as soon as the cell ends, so an interrupted run (Ctrl-C,
kill -9) loses at most the cell in progress, and the next run redoes only unfinished cells. A
failing cell (plugin error, NaN codes, threat-model violation) is recorded as failed and the run
goes on, unless ``fail_fast``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hashbench.cells import protocol_hash, record_path, resolved_topk
from hashbench.data import RetrievalData, load_dataset
from hashbench.data.embedded import data_root_from_env
from hashbench.errors import (
    ConfigError,
    DataMissing,
    HashbenchError,
    one_line,
)
from hashbench.evaluate import (
    QUERY_SIDES,
    attack_metrics,
    clean_metrics,
    curve_arrays,
    database_sample,
    worst_case_metrics,
)
from hashbench.executor import Executor, LocalExecutor
from hashbench.guards import CellTimeout, ModelChangedError, time_limit
from hashbench.locks import FileLock, clean_stale_temp_files, lock_for
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.provenance import provenance, utc_now
from hashbench.provision import Provisioner, direction_view, plugin_ref
from hashbench.records import (
    SCHEMA_VERSION,
    config_hash,
    load_record,
    read_sidecar,
    sidecar_path,
    write_result,
    write_sidecar,
)
from hashbench.registry import attacks, image_method, image_methods
from hashbench.store import ModelStore
from hashbench.suites import CLEAN, WORST_CASE, CellSpec, Suite
from hashbench.timing import PhaseClock
from hashbench.training import encode_queries


@dataclass
class RunOptions:
    results_dir: Path = Path("results")
    cache_dir: Path = Path(".hashbench-cache")
    device: str = "auto"
    force: bool = False
    fail_fast: bool = False
    data_root: Path | None = None
    amp: bool = False  # mixed-precision training; attacks and scoring stay fp32
    cell_timeout: float | None = None  # seconds per cell; None: the suite's, 0: no limit


@dataclass(frozen=True)
class PendingCell:
    """A cell that must be computed: its dataset, where its record goes, what it must match."""

    cell: CellSpec
    data: RetrievalData
    path: Path
    chash: str


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
    def __init__(self, options: RunOptions, progress: Progress = NULL_PROGRESS):
        self.opt, self.progress = options, progress
        self.device = resolve_device(options.device)
        self.clock = PhaseClock()
        self.cell_timeout = options.cell_timeout or None
        self.started_at = time.time()
        self.provisioner = Provisioner(ModelStore(options.cache_dir), self.device, progress,
                                       options.data_root or data_root_from_env(), options.amp,
                                       self.clock)

    def run(self, suite: Suite, cells: list[CellSpec], executor: Executor | None = None
            ) -> RunSummary:
        """Compute every unfinished cell of ``cells`` with ``executor`` (default: here, in
        order). Finished cells (same config hash, status ok) are skipped."""
        summary = RunSummary()
        self.started_at = time.time()
        if self.opt.cell_timeout is None:
            self.cell_timeout = suite.cell_timeout
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
        summary.trained_models = self.provisioner.trained
        return summary

    def pending(self, cell: CellSpec, summary: RunSummary) -> PendingCell | None:
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
        path = record_path(self.opt.results_dir, cell, data.eps)
        chash = self._config_hash(cell, data)
        if not self.opt.force and self._finished(path, chash):
            summary.skipped.append(path)
            return None
        return PendingCell(cell, data, path, chash)

    def compute(self, item: PendingCell) -> dict:
        """Compute one cell into a record (its sidecar is written beside ``item.path``); a
        plugin or data error makes a failed record instead of an exception."""
        started, t0 = utc_now(), time.perf_counter()
        trained_before, phases_before = self.provisioner.trained, self.clock.snapshot()
        record = self._base_record(item.cell, item.data, item.chash)
        try:
            with time_limit(self.cell_timeout, f"cell {item.path}"):
                self._compute(item.cell, item.data, item.path, record)
        except CellTimeout as err:
            record.update(status="failed", error=f"CellTimeout: {err} (a plugin that never "
                          "returns, or too small a limit: raise it with --cell-timeout SECONDS)")
            self.provisioner.forget(record["model"]["cache_key"])
        except Exception as err:  # noqa: BLE001 - any failure of a cell is its record's
            if isinstance(err, ModelChangedError):  # later cells get the checkpoint again
                self.provisioner.forget(record["model"]["cache_key"])
            record.update(status="failed", error=one_line(err))
        record["cost"]["wall_seconds"] = time.perf_counter() - t0
        record["cost"]["trained_models"] = self.provisioner.trained - trained_before
        record["cost"]["phases"] = self.clock.since(phases_before)
        record["provenance"] = provenance(self.device, item.cell.seed, started, self.opt.amp)
        return record

    def failed_record(self, item: PendingCell, error: str, started: str) -> dict:
        """The record of a cell that could not run at all (its model's training task failed,
        or the worker computing it died more often than retries allow)."""
        record = self._base_record(item.cell, item.data, item.chash)
        record.update(status="failed", error=error)
        record["provenance"] = provenance(self.device, item.cell.seed, started, self.opt.amp)
        return record

    def commit(self, item: PendingCell, record: dict, summary: RunSummary,
               sidecar: bytes | None = None) -> None:
        """Write the record atomically (after ``sidecar``, its bytes when they were made on
        another machine) and count it."""
        if record["status"] == "failed" and self._good_record(item.path):
            # a failed recomputation (--force) never replaces a finished record: the failure
            # goes beside it, hidden from validate and report
            aside = failed_path(item.path)
            write_result(aside, record)
            summary.failed.append((item.path, f"{record['error']} (the finished record is kept; "
                                               f"this failure is in {aside.name})"))
            self.progress.log(f"cell failed: {item.path}: {record['error']}; kept the finished "
                              f"record, failure in {aside}")
            return
        write_result(item.path, record, sidecar)
        if record["status"] == "failed":
            self.progress.log(f"cell failed: {item.path}: {record['error']}")
            summary.failed.append((item.path, record["error"]))
        else:
            failed_path(item.path).unlink(missing_ok=True)
            summary.written.append(item.path)

    def record_lock(self, item: PendingCell) -> FileLock:
        """The lock that one run at a time holds while computing ``item``."""
        return lock_for(self.opt.cache_dir, "record", str(item.path.resolve()))

    def finished(self, item: PendingCell) -> bool:
        """Whether ``item``'s record is finished now (another run may have written it)."""
        if not self._finished(item.path, item.chash):
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
        changed = _changed_plugin(rec)
        if changed:
            self.progress.log(f"{path}: {changed}; recomputing the cell")
        return changed is None

    def _base_record(self, cell: CellSpec, data, chash: str) -> dict:
        eps = float(cell.eps if cell.eps is not None else data.eps)
        topk = resolved_topk(cell, data)
        hashes = dict(data.hashes)
        metrics = {"eps": eps, "topk": topk, "clean_map": 0.0}
        hash_params = image_method(cell.method).hash_params() \
            if cell.direction is None and cell.method in image_methods() else {}
        method_plugin = {}
        if cell.direction:
            hashes.update({f"text_{k}": v for k, v in data.text_hashes.items()})
            metrics.update(direction=cell.direction, text_flips=int(data.text_flips or 0))
            try:
                _, ref = self.provisioner.method(cell)
                hash_params, method_plugin = ref["params"], {"method_plugin": ref}
            except HashbenchError:
                pass  # an unknown method fails the cell when its model is provisioned
        record = {
            "schema_version": SCHEMA_VERSION,
            "suite": {"name": cell.suite, "version": cell.suite_version,
                      **({"file_sha256": cell.suite_sha256} if cell.suite_sha256 else {})},
            "cell": cell.to_dict(), "config_hash": chash,
            "dataset": {"name": data.name, "protocol": data.protocol,
                        "protocol_hash": protocol_hash(cell, data), "hashes": hashes,
                        "n_query": len(data.query), "n_database": len(data.database),
                        "n_train": len(data.train)},
            "model": {"method": cell.method, "backbone": cell.backbone, "bits": cell.bits,
                      "hash_params": hash_params, "defense": {"name": cell.defense, "version": 0,
                      "params": cell.defense_params, "distribution": "unknown",
                      "dist_version": "unknown", "third_party": False},
                      "checkpoint_sha256": None, "cache_key": None, **method_plugin},
            "attack": None,
            "metrics": metrics,
            "cost": {"wall_seconds": 0.0, "attack_steps": 0, "forward_images": 0,
                     "backward_images": 0, "trained_models": 0},
            "sidecar": None, "status": "ok", "error": None,
        }
        return record

    def _model_and_clean(self, cell: CellSpec, data, record: dict, q_idx: torch.Tensor):
        """The cell's model (trained or cached) and the clean metrics of the queries ``q_idx``,
        written into ``record``; every kind of cell starts here."""
        prov = self.provisioner.get(cell, data, cell.defense)
        record["model"].update(defense=prov.defense_ref, checkpoint_sha256=prov.checkpoint_sha256,
                               cache_key=prov.key)
        if prov.parent_sha256:
            record["model"]["parent_checkpoint_sha256"] = prov.parent_sha256
        if cell.direction:
            prov = direction_view(prov, cell.direction)
        with self.clock.phase("codes"):
            q_codes = encode_queries(prov.model, data.query.subset(q_idx), cell.query_modality)
        labels = data.query.labels[q_idx].to(self.device)
        targets = data.target_labels[q_idx].to(self.device)
        with self.clock.phase("metrics"):
            clean, arrays = clean_metrics(q_codes, prov, data, labels, targets,
                                          record["metrics"]["topk"])
        record["metrics"].update(clean)
        return prov, q_codes, labels, arrays

    def _compute(self, cell: CellSpec, data, path: Path, record: dict) -> None:
        q_idx = torch.arange(len(data.query) if cell.queries is None
                             else min(cell.queries, len(data.query)))
        prov, q_codes, labels, arrays = self._model_and_clean(cell, data, record, q_idx)
        topk, metrics = record["metrics"]["topk"], record["metrics"]
        if cell.attack == CLEAN:
            db_labels = data.database.labels.to(self.device)
            with self.clock.phase("metrics"):
                arrays.update(curve_arrays(q_codes, prov.codes["database"], labels, db_labels))
            arrays.update(database_sample(prov.codes["database"], db_labels))
            arrays["labels"] = labels.to(torch.uint8).cpu().numpy()
        elif cell.attack == WORST_CASE:
            with self.clock.phase("io"):
                members = {a: read_sidecar(p, load_record(p))["ap"] for a, p in
                           self._member_paths(cell, path).items()}
            wc, wc_arrays = worst_case_metrics(members)
            metrics.update(wc)
            arrays.update(wc_arrays)
        else:
            eps = metrics["eps"]
            attack = self._attack(cell, data, eps)
            scope = f"{cell.dataset}/{cell.model_id}/{cell.defense}/{cell.attack}/eps{eps:.6g}"
            if cell.direction:
                scope = f"{scope}/{cell.direction}"
            m, a, cost = attack_metrics(attack, prov, data, q_idx, topk, scope, cell.seed,
                                        self.progress, self.clock,
                                        QUERY_SIDES[cell.query_modality],
                                        source=lambda: self.provisioner.source_model(cell, data))
            metrics.update(m)
            arrays.update(a)
            record["cost"].update(cost)
            record["attack"] = plugin_ref(attacks, cell.attack, attack)
        if "map" in metrics:
            metrics["map_drop"] = metrics["clean_map"] - metrics["map"]
        with self.clock.phase("io"):
            record["sidecar"] = write_sidecar(sidecar_path(path), arrays)

    def _attack(self, cell: CellSpec, data, eps: float):
        """The cell's attack at the protocol's budget for its query modality: ``eps`` for image
        queries, ``flips`` (the dataset's text budget) for text queries."""
        modality = attacks.get(cell.attack).modality
        if modality != cell.query_modality:
            where = ("an image-text group's text_attacks" if modality == "text"
                     else "attacks (image queries)")
            raise ConfigError(f"attack '{cell.attack}' perturbs {modality} queries, but this "
                              f"cell attacks {cell.query_modality} queries; list it under {where}")
        budget = {"flips": data.text_flips} if modality == "text" else {"eps": eps}
        return attacks.create(cell.attack, **{**cell.attack_params, **budget})

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
    from hashbench.registry import defenses, methods

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

