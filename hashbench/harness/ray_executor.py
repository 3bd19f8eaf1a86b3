"""``hashbench run --executor ray``: one Ray task per model to train and per unfinished cell.

Dependencies are Ray object refs: a defense's training task takes its vanilla model's task
result, and each cell task takes its model's. Models travel as the model cache's own files
(``ModelStore.export``), records and sidecars come back to the driver as return values, so
workers need no shared filesystem; with one, the copies are no-ops. Only the driver writes
results, through ``CellWork.commit``, exactly as the local executor does: a finished cell is never
lost, a restarted driver skips finished records and cached models, and a failed cell gets a
failed record.

Failures: a task whose worker dies is retried ``max_retries`` times by Ray; a cell that still
cannot run (or whose model's training raised) gets a failed record naming the cause. Plugin
errors inside a cell become failed records on the worker, as in local mode.

Numbers: a cell task pins torch to ``cpus_per_cell`` threads, or to the suite's ``threads``
when it fixes them. On the CPU, results are identical to a local run with the same number of
torch threads (the thread count changes summation order, so a 1-thread and a 2-thread run
differ in the last digits); a ``threads = 1`` suite's are identical to any local run.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hashbench import cpu_kernels
from hashbench.data.embedded import data_root_from_env
from hashbench.errors import ConfigError, HashbenchError
from hashbench.harness.guards import CellTimeout, time_limit
from hashbench.harness.provenance import utc_now
from hashbench.harness.suites import AGGREGATES, CLEAN
from hashbench.harness.timing import with_training
from hashbench.records.io import read_result, sidecar_path, write_result

if TYPE_CHECKING:
    from hashbench.harness.plan import CellPlan
    from hashbench.harness.work import CellWork, RunOptions, RunSummary
    from hashbench.records.types import Record

POLL_SECONDS = 0.5


def require_ray():
    try:
        import ray
    except ImportError as err:
        raise ConfigError("--executor ray needs Ray: pip install 'hashbench[ray]'") from err
    return ray


# ---------------------------------------------------------------- what runs on a worker

def _worker(options: RunOptions, threads: int, results_dir: Path | None = None) -> CellWork:
    from hashbench.harness.threads import hold_threads
    from hashbench.harness.work import CellWork

    hold_threads(max(1, threads))  # torch and numba: numba's OpenMP layer would reset torch's
    return CellWork(replace(options, results_dir=results_dir or options.results_dir))


def train_task(options: RunOptions, cell, parent: tuple | None, threads: int, tracker, label: str
               ) -> tuple[str, dict[str, bytes], int, dict[str, float], dict[str, int]]:
    """Train (or load) the model of ``cell`` on this worker and return its cache files:
    (key, files, models trained, seconds by phase, models taken from a zoo by its folder).
    ``parent`` is the vanilla model's result."""
    from hashbench.data import load_dataset

    tracker.started.remote(label)
    work = _worker(options, threads)
    if parent is not None:
        work.add_model_files(parent[1])
    data = load_dataset(cell.dataset, options.data_root)
    key, trained, phases = work.train(cell, data)
    return key, work.model_files(key) or {}, trained, phases, work.models.from_zoo


def cell_task(options: RunOptions, cell, chash: str, model: tuple, threads: int, tracker,
              label: str, member_names: tuple[str, ...], *members: tuple[dict, bytes | None]
              ) -> tuple[Record, bytes | None]:
    """Compute one cell in a scratch results folder; return (record, sidecar bytes).
    ``model`` is the model's task result; ``members`` the finished (record, sidecar) pairs a
    worst-case cell reads (top-level arguments, so Ray resolves them)."""
    from hashbench.data import load_dataset

    tracker.started.remote(label)
    scratch = Path(tempfile.mkdtemp(prefix="hashbench-cell-"))
    try:
        work = _worker(options, threads, scratch)
        work.add_model_files(model[1])
        data = load_dataset(cell.dataset, options.data_root)
        plan = work.plan(cell, data)
        # without this check a worker with other code would silently train its own model
        _same_key(work.identity(plan).key, model[0])
        _same_key(plan.config_hash, chash, "config hash")
        for name, (member, sidecar) in zip(member_names, members):
            write_result(plan.path.with_name(f"{name}.json"), member, sidecar)
        record = work.compute(plan)
        return record, sidecar_path(plan.path).read_bytes() if record.sidecar else None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _same_key(worker_key: str, driver_key: str, what: str = "model key") -> None:
    if worker_key != driver_key:  # the code hashes differently on the two machines
        raise HashbenchError(
            f"a Ray worker computed {what} {worker_key[:12]} where the driver expects "
            f"{driver_key[:12]}; install the same hashbench and plugins on every node")


class _Tracker:
    """Counts tasks that have started, so the driver can tell queued from running."""

    def __init__(self):
        self.names: set[str] = set()

    def started(self, name: str) -> None:
        self.names.add(name)

    def snapshot(self) -> set[str]:
        return self.names


# ---------------------------------------------------------------- the driver

CONNECT_TIMEOUT = 60.0


def check_reachable(address: str | None, timeout: float) -> None:
    """Fail fast, in one line, when ``--address host:port`` (or ``ray://host:port``) does not
    accept a TCP connection: Ray's own client retries an unreachable head for minutes, printing
    a warning at each try."""
    if not address or address in ("auto", "local"):
        return
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise HashbenchError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT, or "
                             "auto); e.g. --address 10.0.0.5:6379")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as conn:
            # a Ray head (its GCS, or the Ray Client server) speaks gRPC: an HTTP/2 client
            # preface is answered by a SETTINGS frame (type 4) at once; anything else that
            # listens there (or a proxy accepting every connection) is not a Ray head
            conn.settimeout(timeout)
            conn.sendall(HTTP2_PREFACE + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            reply = conn.recv(9)
        if len(reply) < 4 or reply[3] != 4:
            raise OSError(f"it does not answer as a gRPC server (got {reply[:9]!r})")
    except OSError as err:
        raise HashbenchError(f"--executor ray: no Ray head answers at {address} ({err}); start "
                             "one there with `ray start --head`, or drop --address to start a "
                             "local one") from err


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def worker_runtime_env() -> dict:
    """What a Ray worker starts with: the driver's pinning variables, and ``pin`` run before
    torch loads (on a non-Intel CPU MKL honours them only after it; see cpu_kernels)."""
    return {"env_vars": {k: os.environ.get(k, v) for k, v in cpu_kernels.PINNED.items()},
            "worker_process_setup_hook": "hashbench.cpu_kernels.pin"}


@dataclass
class RayExecutor:
    address: str | None = None
    gpus_per_cell: float | None = None  # None: 1 when the run is on CUDA or auto with GPUs
    cpus_per_cell: float = 1.0
    max_retries: int = 2
    # seconds to reach the cluster (a head that is down must not make the run wait forever)
    connect_timeout: float = CONNECT_TIMEOUT

    def execute(self, work: CellWork, pending: list[CellPlan], summary: RunSummary) -> None:
        if not pending:
            return
        ray = require_ray()
        started_here = not ray.is_initialized()
        if started_here:
            check_reachable(self.address, self.connect_timeout)
            try:
                with time_limit(self.connect_timeout, f"connecting to Ray at {self.address}"):
                    ray.init(address=self.address, logging_level=logging.ERROR,
                             log_to_driver=False, include_dashboard=False,
                             runtime_env=worker_runtime_env())
            except (ConnectionError, RuntimeError, ValueError, CellTimeout) as err:
                raise HashbenchError(f"--executor ray: cannot reach a Ray cluster at "
                                     f"{self.address or 'a new local instance'} ({err}); start "
                                     "one with `ray start --head` or drop --address") from err
        try:
            _Driver(ray, work, self).run(pending, summary)
        finally:
            if started_here:
                ray.shutdown()

    def gpus(self, ray, work: CellWork) -> float:
        if self.gpus_per_cell is not None:
            return self.gpus_per_cell
        wants_cuda = work.opt.device.startswith("cuda") or (
            work.opt.device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
        return 1.0 if wants_cuda else 0.0


class _Driver:
    """One run's bookkeeping: model tasks by cache key, cell tasks, and what came back."""

    def __init__(self, ray, work: CellWork, cfg: RayExecutor):
        self.ray, self.work, self.cfg = ray, work, cfg
        # workers see the driver's absolute paths; the results dir is only ever the driver's
        # (workers on other nodes do not inherit the driver's $HASHBENCH_DATA)
        data_root = work.opt.data_root or data_root_from_env()
        self.options = replace(work.opt, cache_dir=Path(work.opt.cache_dir).resolve(),
                               data_root=Path(data_root).resolve() if data_root else None)
        # a suite that fixes its threads per cell (threads = 1) gets them whatever the task's
        # CPU reservation: its bytes must not depend on the cluster
        self.threads = work.threads or max(1, int(cfg.cpus_per_cell))
        resources = dict(num_cpus=cfg.cpus_per_cell, num_gpus=cfg.gpus(ray, work),
                         max_retries=cfg.max_retries)
        self.train = ray.remote(train_task).options(**resources)
        self.cell = ray.remote(cell_task).options(**resources)
        self.tracker = ray.remote(num_cpus=0)(_Tracker).remote()
        self.models: dict[str, object] = {}      # cache key -> ref of (key, files, n, s)
        self.training: dict[object, str] = {}    # training ref -> cache key
        self.train_cost: dict[str, tuple[int, dict[str, float]]] = {}
        self.command = shlex.join(sys.argv)

    def model_ref(self, item: CellPlan, ident) -> object:
        """The ref of the model ``ident`` (``item``'s model or its vanilla parent): a task that
        trains it, or the driver's cached files."""
        if ident.key in self.models:
            return self.models[ident.key]
        files = self.work.model_files(ident.key)
        if files is not None:
            ref = self.ray.put((ident.key, files, 0, {}, {}))
        else:
            cell = replace(item.cell, defense=ident.ref["name"],
                           defense_params=ident.ref["params"])
            parent = self.model_ref(item, ident.parent) if ident.parent is not None else None
            label = f"train:{cell.dataset}/{cell.model_id}/{cell.defense}"
            ref = self.train.remote(self.options, cell, parent, self.threads, self.tracker, label)
            self.training[ref] = ident.key
        self.models[ident.key] = ref
        return ref

    def run(self, pending: list[CellPlan], summary: RunSummary) -> None:
        cells: dict[object, tuple[CellPlan, str]] = {}  # ref -> (cell, model key)
        by_path: dict[Path, object] = {}
        for item in pending:  # suite order: a worst case comes after its members
            c = item.cell
            ident = self.work.identity(item)
            model = self.model_ref(item, ident)
            members = {}  # a member that is neither pending nor on disk: the worker's measure
            for name in (*c.worst_case_of, *c.converge_with) if c.attack in AGGREGATES \
                    else ():  # reports it
                p = item.path.with_name(f"{name}.json")
                if p in by_path:
                    members[name] = by_path[p]
                elif p.is_file():
                    members[name] = self.ray.put(read_result(p))
            ref = self.cell.remote(self.options, c, item.config_hash, model, self.threads, self.tracker,
                                   str(item.path), tuple(members), *members.values())
            cells[ref] = (item, ident.key)
            by_path[item.path] = ref
        self._collect(cells, summary)

    def _collect(self, cells: dict[object, tuple[CellPlan, str]], summary: RunSummary) -> None:
        ray, progress = self.ray, self.work.progress
        first_clean: dict[str, CellPlan] = {}
        for item, key in cells.values():
            if item.cell.attack == CLEAN:
                first_clean.setdefault(key, item)
        waiting, started, finished = list(cells) + list(self.training), utc_now(), set()
        failed = 0
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                if ref in self.training:
                    self._model_done(ref, summary)
                    continue
                item, key = cells[ref]
                model_ref = self.models[key]
                if model_ref in self.training and model_ref in waiting:  # finished, not seen
                    waiting.remove(model_ref)
                    self._model_done(model_ref, summary)
                try:
                    record, sidecar = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - a task error or a dead worker
                    record, sidecar = self.work.failed_record(item, _describe(err), started), None
                else:
                    record = replace(record, provenance=replace(record.provenance,
                                                                command=self.command))
                    if first_clean.get(key) is item and key in self.train_cost:
                        # as in a local run, the model's clean cell carries its training cost
                        record = with_training(record, *self.train_cost.pop(key))
                self.work.commit(item, record, summary, sidecar)
                finished.add(str(item.path))
                failed += record.status == "failed"
                progress.advance("matrix")
            running = {n for n in ray.get(self.tracker.snapshot.remote())
                       if not n.startswith("train:")} - finished
            progress.advance("matrix", 0, queued=len(cells) - len(finished) - len(running),
                             running=len(running), done=len(finished), failed=failed)
            if failed and self.work.opt.fail_fast:
                for ref in waiting:
                    ray.cancel(ref, force=True)
                return

    def _model_done(self, ref, summary: RunSummary) -> None:
        """Keep a trained model in the driver's cache too, so a restart resumes from it."""
        try:
            key, files, trained, phases, zoo = self.ray.get(ref)
        except Exception:  # noqa: BLE001 - the model's cells record the error
            return
        _same_key(key, self.training[ref])
        self.work.add_model_files(files)
        summary.trained_models += trained  # trained on a worker: counted in the summary
        summary.took_from_zoo(zoo)
        self.train_cost[key] = (trained, phases)


def _describe(err: Exception) -> str:
    """One line for a failed record: the plugin's own exception where Ray wrapped one."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else 'task failed'}"
