"""Where a cell's wall time goes, for the suite breakdown (records' ``cost.phases``)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

PHASES = ("training", "codes", "fitting", "attack", "metrics", "io")


class PhaseClock:
    """Seconds per phase, accumulated; the runner reads the difference over a cell."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0

    def snapshot(self) -> dict[str, float]:
        return {p: self.seconds[p] for p in PHASES}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        return {p: self.seconds[p] - before[p] for p in PHASES}


def with_training(record, trained: int, phases: dict[str, float]):
    """``record`` (a model's first clean cell) charged with the training of its model done
    elsewhere (a worker process or a Ray task), as a local run's clean cell carries it: its
    ``trained_models``, wall seconds and per-phase seconds grow by the training's."""
    from dataclasses import replace

    cost = record.cost
    return replace(record, cost=replace(
        cost, trained_models=cost.trained_models + trained,
        wall_seconds=cost.wall_seconds + sum(phases.values()),
        phases=replace(cost.phases, **{name: getattr(cost.phases, name) + seconds
                                       for name, seconds in phases.items()})))
