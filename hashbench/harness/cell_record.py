"""A cell's record, assembled in one place from its plan (``harness.plan``) and what measuring
the cell found (``Outcome``, filled by ``harness.measures``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hashbench.errors import HashbenchError
from hashbench.harness.plan import CellPlan
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


def start_outcome(plan: CellPlan) -> Outcome:
    """The outcome before the model is provisioned: the cell's model as the suite names it (its
    defense's plugin details are filled in once it is loaded or trained) and the method's
    parameters as records hold them (an image method's pinned ones, an image-text plugin's)."""
    c = plan.cell
    try:
        _, part, method_ref = c.track.method(c)
        hash_params = part["hash_params"] if method_ref is None else method_ref["params"]
    except HashbenchError:  # an unknown method fails the cell when its model is provisioned
        hash_params, method_ref = {}, None
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
