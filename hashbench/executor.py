"""Where a run's cells are computed: here, one after another (``local``), or as tasks on a Ray
cluster (``ray``, in ``hashbench.ray_executor``). Both hand records back to the runner, which
alone writes them, so results, resumption and failure records are the same either way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hashbench.errors import ConfigError

if TYPE_CHECKING:
    from hashbench.runner import PendingCell, Runner, RunSummary

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    def execute(self, runner: Runner, pending: list[PendingCell], summary: RunSummary) -> None:
        """Compute ``pending`` (in suite order: a model's clean cell first, a worst-case cell
        after its members) and ``runner.commit`` each record as it is ready."""


class LocalExecutor:
    """The current process, cell after cell; models are trained on first use and memoised."""

    def execute(self, runner: Runner, pending: list[PendingCell], summary: RunSummary) -> None:
        for item in pending:
            runner.commit(item, runner.compute(item), summary)
            runner.progress.advance("matrix")
            if summary.failed and runner.opt.fail_fast:
                break


def make_executor(name: str, address: str | None = None, gpus_per_cell: float | None = None,
                  cpus_per_cell: float = 1.0, max_retries: int = 2) -> Executor:
    """The executor called ``name``; ray's options are ignored by ``local``."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from hashbench.ray_executor import RayExecutor

        return RayExecutor(address=address, gpus_per_cell=gpus_per_cell,
                           cpus_per_cell=cpus_per_cell, max_retries=max_retries)
    raise ConfigError(f"unknown executor '{name}'; use one of {', '.join(EXECUTORS)}")
