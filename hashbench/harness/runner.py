"""``hashbench run``: expand a suite into cells, skip the finished ones, hand the rest to an
executor.

Each cell's record is written atomically as soon as the cell ends, so an interrupted run (Ctrl-C,
kill -9) loses at most the cell in progress, and the next run redoes only unfinished cells. A
failing cell (plugin error, NaN codes, threat-model violation) is recorded as failed and the run
goes on, unless ``fail_fast``. The runner decides what is pending; the executor computes it
through ``CellWork`` (``harness.work``), never through the runner.
"""

from __future__ import annotations

import dataclasses
import time

from hashbench.data import how_to_get, load_dataset
from hashbench.errors import DataMissing, HashbenchError
from hashbench.harness import failpoints
from hashbench.harness.cells import record_path
from hashbench.harness.estimate import Estimate, estimate
from hashbench.harness.executor import Executor, LocalExecutor
from hashbench.harness.locks import clean_stale_temp_files
from hashbench.harness.plan import CellPlan
from hashbench.harness.provision import HandedInModel, ModelIdentity
from hashbench.harness.suites import AGGREGATES, CellSpec, Suite
from hashbench.harness.threads import hold_threads, run_threads
from hashbench.harness.work import CellWork, RunOptions, RunSummary
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.records.io import load_record


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
        threads = run_threads(suite.threads, self.opt.threads)
        if threads:  # the protocol's thread count (or the user's), in this process too
            hold_threads(threads)
        for stale in clean_stale_temp_files(self.opt.results_dir, self.opt.cache_dir):
            self.progress.log(f"removed {stale}, a temporary file a killed run left")
        pending = []
        for cell in self.restrict_worst_cases(cells):
            item = self.pending(cell, summary)
            if item is not None:
                pending.append(item)
        if pending:  # what the work will cost, before any of it
            self.progress.log(self.estimate(pending, getattr(executor, "jobs", 1)).line())
        # the cells that can run (a dataset not in place is not counted as done)
        self.progress.start("matrix", len(pending) + len(summary.skipped),
                            f"suite {suite.name} v{suite.version}")
        self.progress.advance("matrix", len(summary.skipped))
        (executor or LocalExecutor()).execute(self.work, pending, summary)
        self.progress.finish("matrix")
        summary.trained_models += self.work.trained  # plus what workers reported
        summary.took_from_zoo(self.work.models.from_zoo)
        return summary

    def estimate(self, pending: list[CellPlan], jobs: int = 1) -> Estimate:
        """The cells and models ``pending`` needs, and its time on this machine."""
        to_train: set[str] = set()
        train_of: dict[str, CellPlan] = {}
        for plan in pending:
            if plan.measure == "worst_case":
                continue
            ident: ModelIdentity | None
            try:
                ident = self.work.identity(plan)
            except HashbenchError:  # a cell that cannot run fails by itself, later
                continue
            while ident is not None:
                if ident.key not in to_train and not self.work.models.available(
                        ident, plan.cell):
                    to_train.add(ident.key)
                    train_of[ident.key] = dataclasses.replace(
                        plan, cell=dataclasses.replace(plan.cell, defense=ident.ref["name"]))
                ident = ident.parent
        return estimate(pending, to_train, train_of, jobs, self.opt.results_dir)

    def restrict_worst_cases(self, cells: list[CellSpec]) -> list[CellSpec]:
        """``cells`` with each worst case over the members this run computes or finds
        finished: a run that leaves members out (``--exclude attack=hash_aa``) computes the
        worst case of the rest, which the board shows as a provisional row, instead of a
        failed cell after the work. Said before the first cell."""
        here = {_key(c, c.record_name) for c in cells}
        out: list[CellSpec] = []
        notes: dict[tuple, list[CellSpec]] = {}
        for c in cells:
            if c.attack not in AGGREGATES:
                out.append(c)
                continue
            have = tuple(m for m in c.worst_case_of
                         if _key(c, m) in here or self._member_finished(c, m))
            lacks = tuple(m for m in c.worst_case_of if m not in have)
            if lacks:
                notes.setdefault((c.attack, have, lacks), []).append(c)
            # a convergence check this run leaves out: the worst case goes without it
            checks = tuple(m for m in c.converge_with
                           if _key(c, m) in here or self._member_finished(c, m))
            if have:
                out.append(c if not lacks and checks == c.converge_with else
                           dataclasses.replace(c, worst_case_of=have, converge_with=checks))
        for (attack, have, lacks), which in notes.items():
            rows = f"{len(which)} rows" if len(which) > 1 else \
                f"{which[0].dataset}/{which[0].model_id}/{which[0].defense} seed {which[0].seed}"
            self.progress.log(
                f"{attack} of {rows} over {', '.join(have)} only (this run leaves out "
                f"{', '.join(lacks)}): provisional until they are computed" if have else
                f"no {attack} for {rows} (this run computes none of {', '.join(lacks)})")
        return out

    def _member_finished(self, cell: CellSpec, attack: str) -> bool:
        try:
            data = load_dataset(cell.dataset, self.opt.data_root)
        except HashbenchError:
            return False
        path = record_path(self.opt.results_dir, cell, data.eps).with_name(f"{attack}.json")
        try:
            return path.is_file() and load_record(path)["status"] == "ok"
        except HashbenchError:
            return False

    def pending(self, cell: CellSpec, summary: RunSummary) -> CellPlan | None:
        """The cell as work to do, or None when it is finished or its dataset is unavailable."""
        if cell.dataset in summary.unavailable:
            return None
        try:
            data = load_dataset(cell.dataset, self.opt.data_root)
        except DataMissing as err:  # not placed yet: skipped; malformed files stop the run
            summary.unavailable[cell.dataset] = f"{err}; get it with: {how_to_get(cell.dataset)}"
            self.progress.log(f"skipping dataset {cell.dataset}: "
                              f"{summary.unavailable[cell.dataset]}")
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


def _key(cell: CellSpec, attack: str) -> tuple:
    """A cell's place beside its worst case: the model, the seed, the direction, the budget."""
    return (cell.dataset, cell.model_id, cell.defense, cell.seed, cell.direction, cell.eps,
            attack)
