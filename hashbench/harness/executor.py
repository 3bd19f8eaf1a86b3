"""Where a run's cells are computed: here, one after another (``local``), or as tasks on a Ray
cluster (``ray``, in ``hashbench.harness.ray_executor``). Both hand records back to the runner, which
alone writes them, so results, resumption and failure records are the same either way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hashbench.harness.cell_record import CellPlan
    from hashbench.harness.runner import Runner, RunSummary



class Executor(Protocol):
    def execute(self, runner: Runner, pending: list[CellPlan], summary: RunSummary) -> None:
        """Compute ``pending`` (in suite order: a model's clean cell first, a worst-case cell
        after its members) and ``runner.commit`` each record as it is ready."""


class LocalExecutor:
    """The current process, cell after cell; models are trained on first use and memoised."""

    def execute(self, runner: Runner, pending: list[CellPlan], summary: RunSummary) -> None:
        # a cell another run is computing (its lock is taken) waits until the free ones are
        # done; then this run waits for the lock and computes the cell only if the other run
        # did not finish it. A worst case waits with its members.
        deferred: list[CellPlan] = []
        for item in pending:
            if any(d.path.parent == item.path.parent for d in deferred) and \
                    item.cell.worst_case_of:
                deferred.append(item)
                continue
            lock = runner.record_lock(item)
            if not lock.acquire(blocking=False):
                deferred.append(item)
                continue
            with lock:
                self._one(runner, item, summary)
            if summary.failed and runner.opt.fail_fast:
                return
        for item in deferred:
            lock = runner.record_lock(item)
            if not lock.acquire(blocking=False):
                runner.progress.log(f"waiting for another run computing {item.path}")
            with lock:
                self._one(runner, item, summary)
            if summary.failed and runner.opt.fail_fast:
                return

    @staticmethod
    def _one(runner: Runner, item: CellPlan, summary: RunSummary) -> None:
        """Compute ``item`` (its lock held) unless another run finished it since the run began."""
        if runner.finished(item):
            summary.skipped.append(item.path)
        else:
            runner.commit(item, runner.compute(item), summary)
        runner.progress.advance("matrix")
