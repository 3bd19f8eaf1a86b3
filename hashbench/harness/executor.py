"""Where a run's cells are computed: here, one after another (``local``), by worker processes
(``--jobs``, ``hashbench.harness.pool_executor``), or as tasks on a Ray cluster (``ray``,
``hashbench.harness.ray_executor``). Every executor computes through ``CellWork``'s narrow
interface (plan, compute, commit, finished, lock, train), and only ``CellWork.commit`` in the
driving process writes records, so results, resumption and failure records are the same either
way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hashbench.harness.plan import CellPlan
    from hashbench.harness.work import CellWork, RunSummary



class Executor(Protocol):
    def execute(self, work: CellWork, pending: list[CellPlan], summary: RunSummary) -> None:
        """Compute ``pending`` (in suite order: a model's clean cell first, a worst-case cell
        after its members) and ``work.commit`` each record as it is ready."""


class LocalExecutor:
    """The current process, cell after cell; models are trained on first use and memoised."""

    def execute(self, work: CellWork, pending: list[CellPlan], summary: RunSummary) -> None:
        # a cell another run is computing (its lock is taken) waits until the free ones are
        # done; then this run waits for the lock and computes the cell only if the other run
        # did not finish it. A worst case waits with its members.
        deferred: list[CellPlan] = []
        for item in pending:
            if any(d.path.parent == item.path.parent for d in deferred) and \
                    item.cell.worst_case_of:
                deferred.append(item)
                continue
            lock = work.lock(item)
            if not lock.acquire(blocking=False):
                deferred.append(item)
                continue
            with lock:
                self._one(work, item, summary)
            if summary.failed and work.opt.fail_fast:
                return
        for item in deferred:
            lock = work.lock(item)
            if not lock.acquire(blocking=False):
                work.progress.log(f"waiting for another run computing {item.path}")
            with lock:
                self._one(work, item, summary)
            if summary.failed and work.opt.fail_fast:
                return

    @staticmethod
    def _one(work: CellWork, item: CellPlan, summary: RunSummary) -> None:
        """Compute ``item`` (its lock held) unless another run finished it since the run began."""
        if work.finished(item):
            summary.skipped.append(item.path)
        else:
            work.commit(item, work.compute(item), summary)
        work.progress.advance("matrix")
