"""A cell's plan: every value of a cell resolved once, in one place, before anything runs.

``plan_cell`` is the one constructor. What it resolves, the rest of a run reads and never
derives again: where the record goes and what it must match to be reused (the config-hash
recipe), the protocol hash, the eps and mAP@K in force, the budget the attack is given and held
to, how ties are scored, which query side is attacked, the seed and the name of the cell's draws,
and what kind of measurement the cell is (``measure``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hashbench.data import RetrievalData
from hashbench.errors import ConfigError
from hashbench.harness.cells import attack_eps, protocol_hash, record_path, resolved_topk
from hashbench.harness.evaluate import QUERY_SIDES, AttackSetting, QuerySide
from hashbench.harness.suites import AGGREGATES, CLEAN, CellSpec
from hashbench.metrics import Ties
from hashbench.records.io import config_hash
from hashbench.records.types import DRAWS_AS, HANDED_IN

Measure = Literal["clean", "attack", "worst_case"]


@dataclass(frozen=True)
class Budget:
    """What an attack is given and held to: an l-inf ``eps`` for image queries, or a number of
    flipped tags (``flips``, the dataset's text budget) for text queries."""

    kind: Literal["eps", "flips"]
    value: float | int | None

    def params(self) -> dict:
        """The budget as the attack's parameters (and the harness's check of every batch)."""
        return {self.kind: self.value}


@dataclass(frozen=True)
class CellPlan:
    """One cell, resolved: what it computes, where its record goes, what the record must match
    to be reused, and the values in force (a group's eps over the protocol's, the protocol's
    mAP@K unless the group sets one)."""

    cell: CellSpec
    data: RetrievalData
    path: Path
    config_hash: str
    protocol_hash: str
    eps: float
    topk: int | None
    budget: Budget
    ties: Ties
    side: QuerySide
    measure: Measure

    @property
    def seed(self) -> int:
        return self.cell.seed

    @property
    def scope(self) -> str:
        """The cell's name in seeded draws (an attack's generators are derived from it)."""
        c = self.cell
        model = f"{c.model_id}/{c.defense}"
        if c.defense == HANDED_IN and c.defense_params.get(DRAWS_AS):  # a published checkpoint
            model = c.defense_params[DRAWS_AS]  # handed back in meets its published row's draws
        scope = f"{c.dataset}/{model}/{c.attack}/eps{self.eps:.6g}"
        return f"{scope}/{c.direction}" if c.direction else scope

    @property
    def n_queries(self) -> int:
        c = self.cell
        return len(self.data.query) if c.queries is None else min(c.queries, len(self.data.query))

    def setting(self, queries) -> AttackSetting:
        """What an attack on the queries ``queries`` of this cell runs under."""
        return AttackSetting(self.data, queries, self.topk, self.scope, self.seed, self.side,
                             self.budget.params(), self.ties)


def cell_config_hash(cell: CellSpec, data: RetrievalData, amp: bool = False) -> str:
    """What a finished record must match to be reused: the cell and its protocol (an fp32
    record is not an amp one)."""
    return config_hash({"cell": cell.to_dict(), "protocol_hash": protocol_hash(cell, data),
                        **({"precision": "amp"} if amp else {})})


def plan_cell(cell: CellSpec, data: RetrievalData, results_dir: Path,
              amp: bool = False) -> CellPlan:
    """Every value of ``cell`` on ``data`` resolved, once: what the rest of the run reads."""
    if cell.queries is not None and cell.queries > len(data.query):
        raise ConfigError(f"suite {cell.suite}: queries = {cell.queries}, but {data.name}'s "
                          f"query split holds {len(data.query)}; lower it (or drop it for "
                          "the whole split)")
    eps = attack_eps(cell, data.eps)
    measure: Measure = "clean" if cell.attack == CLEAN else \
        "worst_case" if cell.attack in AGGREGATES else "attack"
    text = measure == "attack" and cell.query_modality == "text"
    budget = Budget("flips", cell.flips(data.text_flips)) if text else Budget("eps", eps)
    return CellPlan(cell, data, record_path(results_dir, cell, data.eps),
                    cell_config_hash(cell, data, amp), protocol_hash(cell, data), eps,
                    resolved_topk(cell, data), budget, cell.ties,
                    QUERY_SIDES[cell.query_modality], measure)
