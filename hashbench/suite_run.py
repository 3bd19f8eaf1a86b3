"""``hashbench.run_suite``: a suite run as a library call, with the run policy in one place.

``hashbench run`` is this function plus printing; ``hashbench.benchmark`` and ``hashbench
reproduce`` compute their cells through ``run_cells``, the same path. The policy: records of a
package suite as published go to ``results/`` (anything a user adds goes to
``hashbench-results/``, ignored by git); a checkout with uncommitted changes never writes into a
shipped results folder; ``--jobs`` defaults to the number of cores for a suite that fixes one
thread per cell (its bytes do not depend on how many run side by side), else 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hashbench import cpu_kernels
from hashbench.errors import ConfigError, HashbenchError
from hashbench.harness.cells import parse_filters, select, suite_folder
from hashbench.harness.executor import Executor, LocalExecutor
from hashbench.harness.suites import CellSpec, Suite, load_suite, package_suites
from hashbench.harness.work import RunOptions, RunSummary
from hashbench.progress import NULL_PROGRESS, Progress

EXECUTORS = ("local", "ray")


def make_executor(name: str, address: str | None = None, gpus_per_cell: float | None = None,
                  cpus_per_cell: float = 1.0, max_retries: int = 2, jobs: int = 1,
                  threads: int = 1) -> Executor:
    """The executor called ``name``: ``local`` (this process, or ``jobs`` worker processes of
    ``threads`` torch threads each) or ``ray`` (tasks on a Ray cluster; its options are
    ignored by ``local``)."""
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


@dataclass
class SuiteRun:
    """What ``run_suite`` did: the suite as run (additions and seed applied), its cells, where
    the records went, and the run's summary."""

    suite: Suite
    cells: list[CellSpec]
    results_dir: Path
    summary: RunSummary = field(default_factory=RunSummary)


def default_results(suite_name: str, added: bool) -> Path:
    """``results/`` for a package suite run as published, else ``hashbench-results/``: a
    user's rows never dirty the checkout."""
    as_published = suite_name in package_suites() and not added
    return Path("results" if as_published else "hashbench-results")


def default_jobs(suite: Suite | None, executor: str = "local", threads: int | None = None) -> int:
    """Worker processes for a local run: the cores for one-thread cells, else 1."""
    one = (suite.threads if suite is not None else threads) == 1
    return (os.cpu_count() or 1) if one and executor == "local" else 1


def plan_suite(suite_name: str, *, only=(), exclude=(), seed: int | None = None,
               add_defenses=(), add_attacks=(), defense_params: dict | None = None,
               attack_params: dict | None = None) -> tuple[Suite, Suite, list[CellSpec]]:
    """(the suite as published, the suite as run, its selected cells)."""
    full = load_suite(suite_name)
    if add_defenses:
        full = full.with_defenses(add_defenses, defense_params)
    suite = full
    if add_attacks:
        suite = suite.with_attacks(add_attacks, attack_params)
    if seed is not None:
        suite = suite.with_seed(seed)
    cells = select(suite.cells(), parse_filters(only), parse_filters(exclude))
    if not cells:
        raise HashbenchError(f"no cell of suite {suite.name} matches the --only/--exclude filters")
    return full, suite, cells


def run_suite(suite_name: str, *, only=(), exclude=(), seed: int | None = None,
              results: Path | None = None, add_defenses=(), add_attacks=(),
              defense_params: dict | None = None, attack_params: dict | None = None,
              allow_dirty: bool = False, options: RunOptions | None = None,
              jobs: int | None = None, executor: str = "local", executor_options: dict | None = None,
              progress: Progress = NULL_PROGRESS, notes: Callable[[str], None] | None = None
              ) -> SuiteRun:
    """Run suite ``suite_name`` (a package suite or a TOML file): select its cells (``only`` /
    ``exclude``: ``KEY=V1[,V2]`` filters; ``seed``: one root seed; ``add_defenses`` /
    ``add_attacks``: registered plugins evaluated beside the suite's own), compute the
    unfinished ones and return what happened. ``options`` sets the cache, device, timeouts...
    (its ``results_dir`` is replaced by ``results`` or the default); ``notes`` receives, before
    any work, what the caller should know (rows that will be provisional)."""
    from hashbench.harness.provenance import refuse_dirty_shipped_results
    from hashbench.harness.published import unranked

    cpu_kernels.require_pinned()  # records are computed with the protocol's kernels only
    full, suite, cells = plan_suite(suite_name, only=only, exclude=exclude, seed=seed,
                                    add_defenses=add_defenses, add_attacks=add_attacks,
                                    defense_params=defense_params, attack_params=attack_params)
    results = Path(results) if results is not None else \
        default_results(suite_name, bool(add_defenses or add_attacks))
    if not allow_dirty:
        refuse_dirty_shipped_results(results, suite_folder(suite.name, suite.version))
    for line in unranked(full, cells, add_defenses) if add_defenses else ():
        (notes or progress.log)(line)
    options = RunOptions(**{**vars(options or RunOptions()), "results_dir": results})
    summary = run_cells(suite, cells, options, jobs=jobs, executor=executor,
                        executor_options=executor_options, progress=progress)
    return SuiteRun(suite, cells, results, summary)


def run_cells(suite: Suite, cells: list[CellSpec], options: RunOptions, *,
              jobs: int | None = None, executor: str = "local",
              executor_options: dict | None = None, progress: Progress = NULL_PROGRESS,
              handed_in=None) -> RunSummary:
    """Compute the unfinished ``cells`` of ``suite`` with ``options``: the path every run
    takes (``run_suite``, ``benchmark``, ``reproduce``)."""
    from hashbench.harness.runner import Runner

    if jobs is None:
        jobs = default_jobs(suite, executor)
    engine = make_executor(executor, jobs=jobs, threads=suite.threads or 1,
                           **(executor_options or {}))
    return Runner(options, progress, handed_in).run(suite, cells, engine)
