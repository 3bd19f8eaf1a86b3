"""Choosing where a run's cells are computed (``hashbench run --executor``). Here, not in
``hashbench.harness.executor``, so that the local executor (which the runner uses) never refers to the
Ray one (which uses the runner): no import cycle, lazy or not."""

from __future__ import annotations

from hashbench.errors import ConfigError
from hashbench.harness.executor import Executor, LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(name: str, address: str | None = None, gpus_per_cell: float | None = None,
                  cpus_per_cell: float = 1.0, max_retries: int = 2) -> Executor:
    """The executor called ``name``; ray's options are ignored by ``local``."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from hashbench.harness.ray_executor import RayExecutor

        return RayExecutor(address=address, gpus_per_cell=gpus_per_cell,
                           cpus_per_cell=cpus_per_cell, max_retries=max_retries)
    raise ConfigError(f"unknown executor '{name}'; use one of {', '.join(EXECUTORS)}")
