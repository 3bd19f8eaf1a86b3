"""``hashbench run --jobs N``: a run's cells computed by N worker processes on this machine,
each holding torch (and the metric kernels) to one thread.

Why one thread per cell: torch's reductions sum in an order that depends on its thread count, so
a model trained on two threads differs in its last bits from one trained on four, and the
records after it with it. With one thread per cell, a 2-core laptop, a 64-core server, ``--jobs
1`` and ``--jobs 8`` compute the same bytes; the cores are used by running cells side by side
instead (measured here: two single-threaded processes do the same work 1.2-1.3x faster than
one process on two threads).

Order: first every model the pending cells need, a level at a time (the vanilla checkpoints,
then the defenses that fine-tune them), each trained once (the model cache's locks); then the
attack and clean cells in parallel; then the worst cases, in this process, from their members'
records. Workers write sidecars beside the records as the local executor does; only this
process writes records (``CellWork.commit``), so resumption and failure records are the same as
in a local run.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hashbench.errors import one_line
from hashbench.harness.executor import LocalExecutor
from hashbench.harness.suites import AGGREGATES, CLEAN
from hashbench.harness.threads import hold_threads
from hashbench.harness.timing import with_training

if TYPE_CHECKING:
    from hashbench.harness.locks import FileLock
    from hashbench.harness.plan import CellPlan
    from hashbench.harness.work import CellWork, RunOptions, RunSummary

_WORKER: dict = {}  # per worker process: its CellWork, and the datasets it loaded


def _init(options: RunOptions, threads: int) -> None:
    from hashbench import cpu_kernels

    cpu_kernels.pin()  # before torch loads: the protocol's kernels in every worker
    hold_threads(threads)
    from hashbench.harness.work import CellWork

    _WORKER["work"] = CellWork(options)
    _WORKER["data"] = {}


def _data(name: str):
    from hashbench.data import load_dataset

    if name not in _WORKER["data"]:
        _WORKER["data"][name] = load_dataset(name, _WORKER["work"].opt.data_root)
    return _WORKER["data"][name]


def _train(cell) -> tuple[int, dict[str, float], dict[str, int]]:
    """Train (or load) ``cell``'s model into the shared cache; returns the models trained,
    the seconds it took by phase and the models taken from a zoo (by zoo folder)."""
    work = _WORKER["work"]
    zoo = dict(work.models.from_zoo)
    _, trained, phases = work.train(cell, _data(cell.dataset))
    return trained, phases, {k: v - zoo.get(k, 0) for k, v in work.models.from_zoo.items()
                             if v - zoo.get(k, 0)}


def _compute(cell):
    """Compute one cell (its sidecar written beside its record's path); returns the record."""
    work = _WORKER["work"]
    before = work.trained
    record = work.compute(work.plan(cell, _data(cell.dataset)))
    return record, work.trained - before


@dataclass
class PoolExecutor:
    jobs: int
    threads: int = 1  # torch threads per worker: the protocol's one thread per cell

    def execute(self, work: CellWork, pending: list[CellPlan], summary: RunSummary) -> None:
        if not pending:
            return
        cells = [p for p in pending if p.cell.attack not in AGGREGATES]
        aggregates = [p for p in pending if p.cell.attack in AGGREGATES]
        context = multiprocessing.get_context("spawn")  # no forked torch or numba state
        # the driver decided what to compute, and the time limit in force (the suite's)
        options = replace(work.opt, force=True, cell_timeout=work.cell_timeout or 0)
        with ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_init,
                                 initargs=(options, self.threads)) as pool:
            trained = self._train_models(work, pool, cells, summary)
            if trained is None:
                return
            left = self._cells(work, pool, cells, summary, *trained)
        if summary.failed and work.opt.fail_fast:
            return
        for plan in left:  # another run is computing these: a worst case waits for them
            with work.lock(plan):
                pass
        LocalExecutor().execute(work, aggregates, summary)  # seconds: per-query minima

    @staticmethod
    def _train_models(work: CellWork, pool, cells: list[CellPlan], summary: RunSummary
                      ) -> tuple[dict[Path, str], dict[Path, tuple]] | None:
        """Every model the cells need, trained once, parents before children. Returns, per
        record path, why its model failed to train (its cell is then failed without training
        it again in another worker), and, for the first clean cell of each model trained, the
        training's (models trained, seconds by phase), which its record carries as a local
        run's does; or None when the run must stop (--fail-fast)."""
        levels: dict[int, dict[str, object]] = {}
        key_of: dict[Path, str] = {}
        for plan in cells:
            ident = work.identity(plan)
            key_of[plan.path] = ident.key
            depth, parent = 0, ident.parent
            while parent is not None:
                depth, parent = depth + 1, parent.parent
            levels.setdefault(depth, {}).setdefault(ident.key, plan.cell)
        broken: dict[str, str] = {}
        cost: dict[str, tuple[int, dict[str, float]]] = {}
        for depth in sorted(levels):
            futures = {pool.submit(_train, cell): key for key, cell in levels[depth].items()}
            for future, key in futures.items():
                try:
                    trained, phases, zoo = future.result()
                    cost[key] = (trained, phases)
                    summary.trained_models += trained
                    summary.took_from_zoo(zoo)
                except Exception as err:  # noqa: BLE001 - its cells fail with the reason
                    broken[key] = one_line(err)
                    if work.opt.fail_fast:
                        return None
        charged: dict[Path, tuple] = {}
        for plan in cells:
            key = key_of[plan.path]
            if plan.cell.attack == CLEAN and key in cost and cost[key][0]:
                charged[plan.path] = cost.pop(key)
        return {path: broken[key] for path, key in key_of.items() if key in broken}, charged

    @staticmethod
    def _cells(work: CellWork, pool, cells: list[CellPlan], summary: RunSummary,
               failed: dict[Path, str], charged: dict[Path, tuple]) -> list[CellPlan]:
        """The cells, as many at a time as there are workers; each record committed as it
        comes back (a cell another run holds is skipped here and left to that run: returned,
        so the worst cases wait for it). A cell whose model failed to train gets a failed
        record naming why, as in a local run."""
        from hashbench.harness.provenance import utc_now

        running: dict[Future, tuple[CellPlan, FileLock]] = {}
        left: list[CellPlan] = []
        for plan in cells:
            lock = work.lock(plan)
            if not lock.acquire(blocking=False):
                work.progress.log(f"another run is computing {plan.path}; left to it")
                left.append(plan)
                continue
            if plan.path in failed:
                with lock:
                    work.commit(plan, work.failed_record(
                        plan, f"defense '{plan.cell.defense}' failed to train this model "
                        f"earlier in this run: {failed[plan.path]}", utc_now()), summary)
                work.progress.advance("matrix")
                continue
            running[pool.submit(_compute, plan.cell)] = (plan, lock)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                plan, lock = running.pop(future)
                try:
                    record, trained = future.result()
                    summary.trained_models += trained
                    if plan.path in charged:
                        record = with_training(record, *charged[plan.path])
                    work.commit(plan, record, summary)
                except Exception as err:  # noqa: BLE001 - a worker that died: a failed record
                    work.commit(plan, work.failed_record(
                        plan, f"worker process failed: {one_line(err)}", utc_now()), summary)
                finally:
                    lock.release()
                work.progress.advance("matrix")
                if summary.failed and work.opt.fail_fast:
                    for other, (_, held) in running.items():
                        other.cancel()
                        held.release()
                    return left
        return left
