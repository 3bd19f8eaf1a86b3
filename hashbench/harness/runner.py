"""``hashbench run``: expand a suite into cells, skip the finished ones, hand the rest to an
executor.

Each cell's record is written atomically as soon as the cell ends, so an interrupted run (Ctrl-C,
kill -9) loses at most the cell in progress, and the next run redoes only unfinished cells. A
failing cell (plugin error, NaN codes, threat-model violation) is recorded as failed and the run
goes on, unless ``fail_fast``. The runner decides what is pending; the executor computes it
through ``CellWork`` (``harness.work``), never through the runner.
"""

from __future__ import annotations

import time

from hashbench.data import load_dataset
from hashbench.errors import DataMissing
from hashbench.harness import failpoints
from hashbench.harness.executor import Executor, LocalExecutor
from hashbench.harness.locks import clean_stale_temp_files
from hashbench.harness.plan import CellPlan
from hashbench.harness.provision import HandedInModel
from hashbench.harness.suites import CellSpec, Suite
from hashbench.harness.work import CellWork, RunOptions, RunSummary
from hashbench.progress import NULL_PROGRESS, Progress


class Runner:
    def __init__(self, options: RunOptions, progress: Progress = NULL_PROGRESS,
                 handed_in: HandedInModel | None = None):
        if failpoints.enabled():  # the kill tests' stop points (hashbench.harness.failpoints)
            progress = failpoints.FailpointProgress(progress)
        self.opt, self.progress = options, progress
        self.work = CellWork(options, progress, handed_in)

    def run(self, suite: Suite, cells: list[CellSpec], executor: Executor | None = None
            ) -> RunSummary:
        """Compute every unfinished cell of ``cells`` with ``executor`` (default: here, in
        order). Finished cells (same config hash, status ok) are skipped."""
        summary = RunSummary()
        self.work.started_at = time.time()
        if self.opt.cell_timeout is None:
            self.work.cell_timeout = suite.cell_timeout
        self.work.threads = suite.threads
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
        (executor or LocalExecutor()).execute(self.work, pending, summary)
        self.progress.finish("matrix")
        summary.trained_models += self.work.trained  # plus what workers reported
        summary.took_from_zoo(self.work.models.from_zoo)
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
        plan = self.work.plan(cell, data)
        if not self.opt.force and self.work.finished(plan):
            summary.skipped.append(plan.path)
            return None
        return plan
