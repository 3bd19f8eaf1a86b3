"""What a run will cost, said before its first cell: the cells and models to compute, and an
estimate of the wall time on this machine.

Each pending cell is priced by the published cells it is (the same suite, dataset, model,
defense and attack, averaged over seeds), or, for a defense or attack the suite does not
publish, by the published cells most like it (the suite's defenses of the same model under the
same attack; the same attack on any model). Each model to train is priced by its published
training, or the mean of the suite's defenses'. The published seconds are scaled by this
machine's speed: ``calibrate`` times a fixed workload here, and the index holds what that
workload took on the machine that computed the records (``records.published.calibration``).
A cell nothing published prices (a suite hashbench does not publish, or a user's own) is priced
the same way by the records this run's results folder already holds: seconds measured here.
Worker processes divide the cells' time, not the training of the models they wait for.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from hashbench.harness.cells import suite_folder
from hashbench.harness.plan import CellPlan
from hashbench.records.published import build_index, calibration, published_index


@dataclass(frozen=True)
class Estimate:
    cells: int
    models: int  # models this run trains (not cached, not published in the zoo)
    seconds: float | None  # None: nothing published to price the cells by
    priced: int  # cells that attack, priced by a published twin or a similar cell
    attacking: int  # cells that attack (not the worst cases, which only read sidecars)

    def line(self) -> str:
        what = f"{self.cells} cell{'s' if self.cells != 1 else ''} and {self.models} " \
            f"model{'s' if self.models != 1 else ''} to train"
        if self.seconds is None:
            return f"{what}; no published cost to estimate the time from"
        part = "" if self.priced == self.attacking else \
            f" ({self.priced} of the {self.attacking} that attack priced; the others not counted)"
        return f"{what}: about {duration(self.seconds)} on this machine{part}"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@lru_cache(maxsize=1)
def calibrate() -> float:
    """Seconds of a fixed workload on this machine, one torch thread (the smallest time of
    three): forward and backward passes of the standard suites' model, as attacks spend them."""
    from hashbench.models.hash_model import HashModel, ModelSpec

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = HashModel(ModelSpec("dpsh", "small_cnn", 32, 1, 10), seed=0).eval()
        x = torch.linspace(0, 1, 128 * 784).reshape(128, 1, 28, 28)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(10):
                xi = x.clone().requires_grad_(True)
                torch.autograd.grad(model(xi).sum(), xi)
            best = min(best, time.perf_counter() - t0)
        return best
    finally:
        torch.set_num_threads(threads)


def _place(plan: CellPlan) -> tuple:
    c = plan.cell
    return (suite_folder(c.suite, c.suite_version), c.dataset, c.model_id, c.defense,
            c.direction, c.record_name)


Prices = dict[tuple, dict[str, list[float]]]


@lru_cache(maxsize=1)
def _published() -> Prices:
    return _by_place(published_index())


def _finished(results: Path, folders: set[str]) -> Prices:
    """The prices the records already in ``results`` (of the suite folders ``folders``) give."""
    index = {f"{folder}/{place}": e for folder in sorted(folders)
             if (results / folder).is_dir()
             for place, e in build_index(results / folder, skip_unreadable=True).items()}
    return _by_place(index)


def _by_place(index: dict[str, dict]) -> Prices:
    """(suite folder, dataset, model, defense, direction, attack) -> seconds and training
    seconds of the indexed cells (one a seed)."""
    out: Prices = {}
    for place, e in index.items():
        parts = place.split("/")
        direction = next((p for p in parts[4:-1] if p in ("i2t", "t2i")), None)
        if any(p.startswith("eps") for p in parts[4:-1]):
            continue  # a swept budget prices nothing at the protocol's
        key = (*parts[:4], direction, parts[-1][:-5])
        got = out.setdefault(key, {"seconds": [], "training": []})
        got["seconds"].append(float(e.get("seconds", 0.0)))
        if e.get("training_seconds"):
            got["training"].append(float(e["training_seconds"]))
    return out


# a source of prices and its scale to this machine; the prices are read on first need, so a
# run the published index prices whole never reads its results folder
Sources = list[tuple[Callable[[], Prices], float]]


def _price(sources: Sources, key: tuple, baseline: str, what: str) -> float | None:
    """The mean ``what`` ("seconds" or "training") of ``key``, else of the suite's defenses of
    that model (not its baseline), else of that attack on any model: at each level the first
    source (published, then finished here) that has it, scaled to this machine."""
    for get, scale in sources:
        got = get().get(key)
        if got and got[what]:
            return scale * statistics.mean(got[what])
    for like in ((lambda k: k[:3] == key[:3] and k[3] != baseline and k[4:] == key[4:]),
                 (lambda k: k[0] == key[0] and k[5] == key[5])):
        for get, scale in sources:
            values = [v for k, got in get().items() if like(k) for v in got[what]]
            if values:
                return scale * statistics.mean(values)
    return None


def estimate(plans: list[CellPlan], to_train: set[str], train_of: dict[str, CellPlan],
             jobs: int = 1, results: Path | None = None) -> Estimate:
    """The cost of computing ``plans`` and training the models ``to_train`` (their keys; each
    with a plan of a cell of it in ``train_of``) with ``jobs`` worker processes; ``results``:
    the run's results folder, whose finished records price what nothing published does."""
    folder = {_place(p)[0] for p in plans}
    ref = [calibration()[f] for f in folder if f in calibration()]
    sources: Sources = [(_published, calibrate() / statistics.mean(ref) if ref else 1.0)]
    if results is not None:  # measured here
        sources.append((lru_cache(maxsize=1)(lambda: _finished(Path(results), folder)), 1.0))
    # a worst case reads its members' sidecars (a fraction of a second): neither priced nor
    # counted, so that a run whose attacks nothing prices does not read "about 0 s"
    attacking = [p for p in plans if p.measure != "worst_case"]
    cells, priced = 0.0, 0
    for plan in attacking:
        seconds = _cell_price(sources, plan)
        if seconds is not None:
            cells, priced = cells + seconds, priced + 1
    training = sum(_price(sources, _place(train_of[k])[:5] + ("clean",),
                          train_of[k].cell.baseline, "training") or 0.0 for k in to_train)
    if not priced and attacking:
        return Estimate(len(plans), len(to_train), None, 0, len(attacking))
    return Estimate(len(plans), len(to_train), cells / max(1, jobs) + training, priced,
                    len(attacking))


def _cell_price(sources: Sources, plan: CellPlan) -> float | None:
    seconds = _price(sources, _place(plan), plan.cell.baseline, "seconds")
    if seconds is None and plan.cell.scale != 1:  # an unpriced convergence run: its attack's
        # cell at scale x the steps and scale x the restarts
        seconds = _price(sources, _place(plan)[:5] + (plan.cell.attack,), plan.cell.baseline,
                         "seconds")
        seconds = None if seconds is None else seconds * plan.cell.scale ** 2
    return seconds
