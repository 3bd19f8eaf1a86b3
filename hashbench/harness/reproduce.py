"""``hashbench reproduce``: recompute published cells in a scratch folder and compare.

Each record names its cell completely (``record["cell"]``), so its cell is rebuilt from the record
alone, computed from scratch (its model trained into a scratch cache unless told to reuse one) and
its metrics compared with the published ones. A metric matches when the two values differ by at
most ``TOLERANCE``.

The tolerance is measured, not guessed: with the CPU kernels pinned (``hashbench/__init__``) a
rerun on the machine that made the records is bit-identical (tolerance 0 would do there); a run
on another x86 machine differs wherever a float rounds differently, and adversarial training
amplifies that into different checkpoints. ``TOLERANCE`` is what the README reports for such runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hashbench.errors import ConfigError, HashbenchError, ResultError
from hashbench.harness.suites import AGGREGATES, CLEAN, CellSpec
from hashbench.records.io import iter_record_paths, load_record
from hashbench.records.paths import check_component, overlaps

# |published - recomputed| at or under which a metric counts as reproduced (see the README)
TOLERANCE = 1e-9
COMPARED = ("clean_map", "map", "t_map", "clean_t_map")


@dataclass(frozen=True)
class Comparison:
    path: Path
    metric: str
    published: float | None
    recomputed: float | None

    @property
    def difference(self) -> float | None:
        if self.published is None or self.recomputed is None:
            return None
        return abs(self.published - self.recomputed)

    def matched(self, tolerance: float) -> bool:
        return self.difference is not None and self.difference <= tolerance


def cell_of(path: Path, record: dict) -> CellSpec:
    """The cell a record measured, rebuilt from the record (and its path's seed folder)."""
    d = dict(record["cell"])
    for what in ("suite", "dataset", "method", "backbone", "defense", "attack"):
        check_component(d.get(what), f"cell.{what}", str(path), ResultError)
    for name in d.get("worst_case_of", ()):
        check_component(name, "cell.worst_case_of member", str(path), ResultError)
    d["worst_case_of"] = tuple(d.get("worst_case_of", ()))
    for name in d.get("converge_with", ()):
        check_component(name, "cell.converge_with member", str(path), ResultError)
    d["converge_with"] = tuple(d.get("converge_with", ()))
    d["seed_in_path"] = any(part == f"seed{d['seed']}" for part in path.parts)
    try:
        return CellSpec(**d)
    except TypeError as err:
        raise ResultError(f"{path}: its cell cannot be rebuilt ({err})") from err


def check_scratch(scratch: Path, paths: list[Path]) -> None:
    """Refuse a scratch folder that is, contains or lies inside the records it reproduces:
    recomputed records must never land on (or among) the published ones."""
    for p in paths:
        folder = Path(p) if Path(p).is_dir() else Path(p).parent
        if overlaps(scratch, folder):
            raise ConfigError(f"--scratch {scratch} overlaps {p}, the records being reproduced; "
                              "give a scratch folder outside them (or omit --scratch for a "
                              "temporary one)")


def published_cells(paths: list[Path]) -> list[tuple[Path, dict, CellSpec]]:
    """Every ok record under ``paths`` with its cell, clean cells first and worst cases last (a
    worst case needs its members). Records of external queries cannot be recomputed."""
    found = []
    for p in iter_record_paths(paths):
        rec = load_record(p)
        if rec["status"] != "ok" or rec["cell"]["attack"].startswith("external-"):
            continue
        found.append((p, rec, cell_of(p, rec)))
    order = {CLEAN: 0, **{a: 2 for a in AGGREGATES}}
    return sorted(found, key=lambda t: (order.get(t[2].attack, 1), str(t[0])))


def settings_of(cells: list[tuple[Path, dict, CellSpec]]) -> tuple[int | None, float]:
    """The torch thread count to recompute ``cells`` with and the default tolerance. Records
    that all say they were computed on one thread are recomputed on one thread; those of a suite
    that also scopes its draws by cell identity (``threads = 1``, ``generators = "cell"``) were
    made to be the same bytes on any machine, and are compared with tolerance 0. Others keep
    this process's threads and ``TOLERANCE``."""
    one = bool(cells) and all(rec["provenance"].get("cpu_kernels", {}).get("threads") == 1
                              for _, rec, _ in cells)
    exact = one and all(cell.generators == "cell" for _, _, cell in cells)
    return (1 if one else None), (0.0 if exact else TOLERANCE)


@dataclass
class Reproduction:
    """What ``recompute`` did: each published record with its recomputed one (None when its
    cell could not be recomputed: its dataset is unavailable), the tolerance in force and the
    scratch folder."""

    rows: list[tuple[Path, dict, dict | None]]
    tolerance: float
    scratch: Path


def recompute(paths: list[Path], scratch: Path | None = None, cache: Path | None = None,
              tolerance: float | None = None, jobs: int | None = None, device: str = "cpu",
              data_root: Path | None = None, progress=None) -> Reproduction:
    """Recompute the published cells under ``paths`` into ``scratch`` (a temporary folder by
    default), through the same path as a run (``suite_run.run_cells``), models trained again
    unless ``cache`` is given (never taken from the zoo)."""
    import tempfile

    from hashbench.data import load_dataset
    from hashbench.harness.cells import record_path
    from hashbench.harness.suites import Suite
    from hashbench.harness.work import RunOptions
    from hashbench.progress import NULL_PROGRESS
    from hashbench.suite_run import run_cells

    if scratch is not None:
        check_scratch(scratch, list(paths))
    cells = published_cells(list(paths))
    if not cells:
        raise ResultError("no ok record under the given paths to reproduce")
    threads, default_tolerance = settings_of(cells)
    if jobs is not None and jobs > 1 and threads != 1:
        raise ConfigError(f"--jobs {jobs} computes every cell on one thread, but these "
                          "records were not all computed on one thread (their provenance's "
                          "cpu_kernels.threads); use --jobs 1")
    scratch = Path(scratch or tempfile.mkdtemp(prefix="hashbench-reproduce-"))
    options = RunOptions(results_dir=scratch / "results", cache_dir=cache or scratch / "cache",
                         device=device, force=True, data_root=data_root, zoo=False,
                         cell_timeout=0)  # no limit: the published cells all finished once
    # the cells as one run: the records' thread count held, worst cases after their members
    run = Suite(name="reproduce", version=1, description="", seed=0, worst_case=(), groups=(),
                defense_params={}, attack_params={}, source="records", threads=threads)
    run_cells(run, [cell for _, _, cell in cells], options, jobs=jobs,
              progress=progress or NULL_PROGRESS)
    rows: list[tuple[Path, dict, dict | None]] = []
    for path, published, cell in cells:
        try:
            data = load_dataset(cell.dataset, data_root)
        except HashbenchError:
            rows.append((path, published, None))
            continue
        mine = record_path(options.results_dir, cell, data.eps)
        rows.append((path, published, load_record(mine) if mine.is_file() else None))
    return Reproduction(rows, default_tolerance if tolerance is None else tolerance, scratch)


def compare(published: dict, recomputed: dict, path: Path) -> list[Comparison]:
    out = []
    for key in COMPARED:
        if key in published["metrics"] or key in recomputed["metrics"]:
            out.append(Comparison(path, key, published["metrics"].get(key),
                                  recomputed["metrics"].get(key)))
    return out
