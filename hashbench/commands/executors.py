"""Choosing where a run's cells are computed (``hashbench run --executor``). Here, not in
``hashbench.harness.executor``, so that the local executor (which the runner uses) never refers to the
Ray one (which uses the runner): no import cycle, lazy or not."""

from __future__ import annotations

from hashbench.errors import ConfigError
from hashbench.harness.executor import Executor, LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(name: str, address: str | None = None, gpus_per_cell: float | None = None,
                  cpus_per_cell: float = 1.0, max_retries: int = 2, jobs: int = 1,
                  threads: int = 1) -> Executor:
    """The executor called ``name``; ray's options are ignored by ``local``, and ``jobs`` (worker
    processes of ``threads`` torch threads each, when more than one) by ``ray``."""
    if name == "local":
        if jobs > 1:
            from hashbench.harness.pool_executor import PoolExecutor

            return PoolExecutor(jobs, threads)
        return LocalExecutor()
    if name == "ray":
        from hashbench.harness.ray_executor import RayExecutor

        return RayExecutor(address=address, gpus_per_cell=gpus_per_cell,
                           cpus_per_cell=cpus_per_cell, max_retries=max_retries)
    raise ConfigError(f"unknown executor '{name}'; use one of {', '.join(EXECUTORS)}")
