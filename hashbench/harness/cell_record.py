"""A cell's plan (every value of the cell resolved once) and its record, assembled in one place
from the plan and what computing the cell found.

``CellPlan`` is made once per cell, before anything runs: the record path, the config hash, the
protocol hash, the eps and mAP@K in force and the budget the attack gets. Everything downstream
(the attack's parameters, the harness's check of every adversarial batch, external scoring, the
record) reads the plan, never the cell's raw ``eps`` / ``topk`` again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hashbench.data import RetrievalData
from hashbench.harness.suites import CellSpec
from hashbench.records.io import SCHEMA_VERSION
from hashbench.records.types import (
    Cost,
    DatasetRef,
    Metrics,
    ModelRef,
    PluginRef,
    Provenance,
    Record,
    SidecarRef,
    SuiteRef,
)


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
    # what the attack is given and held to: {"eps": e} for image queries, {"flips": n} for text
    budget: dict

    @property
    def scope(self) -> str:
        """The cell's name in seeded draws (an attack's generators are derived from it)."""
        c = self.cell
        scope = f"{c.dataset}/{c.model_id}/{c.defense}/{c.attack}/eps{self.eps:.6g}"
        return f"{scope}/{c.direction}" if c.direction else scope


@dataclass
class Outcome:
    """What computing a cell found so far; ``record`` turns it into the typed record."""

    model: ModelRef
    metrics: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)
    attack: PluginRef | None = None
    sidecar: SidecarRef | None = None
    status: str = "ok"
    error: str | None = None

    def fail(self, error: str) -> None:
        self.status, self.error = "failed", error


def start(plan: CellPlan, hash_params: dict, method_ref: dict | None) -> Outcome:
    """The outcome before the model is provisioned: the cell's model as the suite names it
    (its defense's plugin details are filled in once it is loaded or trained)."""
    c = plan.cell
    defense = PluginRef(name=c.defense, version=0, params=c.defense_params,
                        distribution="unknown", dist_version="unknown", third_party=False)
    extra = {"method_plugin": PluginRef.from_dict(method_ref)} if method_ref else {}
    model = ModelRef(method=c.method, backbone=c.backbone, bits=c.bits, hash_params=hash_params,
                     defense=defense, checkpoint_sha256=None, cache_key=None, **extra)
    return Outcome(model, c.track.record_metrics(c, plan.data))


def record(plan: CellPlan, out: Outcome, provenance: dict, wall_seconds: float = 0.0,
           trained_models: int = 0, phases: dict | None = None) -> Record:
    """The typed record of ``plan`` from ``out`` (every part checked against its dataclass)."""
    c, data = plan.cell, plan.data
    hashes = c.track.record_hashes(data)
    cost = {"wall_seconds": wall_seconds, "attack_steps": 0, "forward_images": 0,
            "backward_images": 0, **out.cost, "trained_models": trained_models}
    if phases is not None:
        cost["phases"] = phases
    metrics = {"eps": plan.eps, "topk": plan.topk, "clean_map": 0.0, **out.metrics}
    if "map" in out.metrics:  # every attacked cell's drop, computed here once
        metrics["map_drop"] = metrics["clean_map"] - metrics["map"]
    return Record(
        schema_version=SCHEMA_VERSION,
        suite=SuiteRef.from_dict({"name": c.suite, "version": c.suite_version,
                                  **({"file_sha256": c.suite_sha256} if c.suite_sha256 else {})}),
        cell=c.to_dict(), config_hash=plan.config_hash,
        dataset=DatasetRef(name=data.name, protocol=data.protocol,
                           protocol_hash=plan.protocol_hash, hashes=hashes,
                           n_query=len(data.query), n_database=len(data.database),
                           n_train=len(data.train)),
        model=out.model, attack=out.attack,
        metrics=Metrics.from_dict(metrics, "metrics"),
        cost=Cost.from_dict(cost, "cost"), sidecar=out.sidecar,
        provenance=Provenance.from_dict(provenance, "provenance"),
        status=out.status, error=out.error,
    )
