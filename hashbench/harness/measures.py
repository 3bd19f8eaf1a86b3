"""What a cell measures, one small object per kind: clean retrieval, retrieval under one attack,
or the per-query worst case over other cells' records. The cell's plan names its kind
(``CellPlan.measure``); each kind fills the cell's outcome and returns its per-query arrays.

Every kind starts the same way (``model_and_clean``): the cell's model, provisioned (trained or
cached), seen from the cell's query side, and the clean metrics of its queries.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hashbench.errors import ConfigError, HashbenchError
from hashbench.harness.cell_record import Outcome
from hashbench.harness.evaluate import (
    Services,
    attack_metrics,
    clean_metrics,
    curve_arrays,
    database_sample,
    worst_case_metrics,
)
from hashbench.harness.plan import CellPlan
from hashbench.harness.provision import Provisioner
from hashbench.harness.store import AttackStates
from hashbench.harness.timing import PhaseClock
from hashbench.kit.training import encode_queries
from hashbench.progress import Progress
from hashbench.records.io import load_record, read_sidecar
from hashbench.records.types import PluginRef
from hashbench.registry import attacks, plugin_ref


@dataclass
class CellContext:
    """What measuring a cell draws on: the models (trained or cached, with their codes), the
    clock its phases are timed by, and where its progress goes."""

    models: Provisioner
    clock: PhaseClock
    progress: Progress

    @property
    def device(self) -> torch.device:
        return self.models.device


def model_and_clean(plan: CellPlan, ctx: CellContext, out: Outcome, q_idx: torch.Tensor):
    """The cell's model (trained or cached) and the clean metrics of the queries ``q_idx``,
    written into ``out``: (the model as the query side sees it, query codes, labels, arrays)."""
    cell, data = plan.cell, plan.data
    prov = ctx.models.get(cell, data, cell.defense)
    parent: dict[str, Any] = {"parent_checkpoint_sha256": prov.parent_sha256} \
        if prov.parent_sha256 else {}
    out.model = dataclasses.replace(
        out.model, defense=PluginRef.from_dict(prov.defense_ref, "model.defense"),
        checkpoint_sha256=prov.checkpoint_sha256, cache_key=prov.key, **parent)
    prov = cell.track.view(prov, cell.direction)
    with ctx.clock.phase("codes"):
        q_codes = encode_queries(prov.model, data.query.subset(q_idx), cell.query_modality)
    labels = data.query.labels[q_idx].to(ctx.device)
    targets = data.target_labels[q_idx].to(ctx.device)
    with ctx.clock.phase("metrics"):
        clean, arrays = clean_metrics(q_codes, prov, data, labels, targets, plan.topk,
                                      plan.ties)
    out.metrics.update(clean)
    return prov, q_codes, labels, arrays


def measure_clean(plan: CellPlan, ctx: CellContext, out: Outcome) -> dict[str, np.ndarray]:
    """Clean retrieval, with the curves and codes the report draws from the sidecar."""
    prov, q_codes, labels, arrays = model_and_clean(plan, ctx, out, _queries(plan))
    db_labels = plan.data.database.labels.to(ctx.device)
    with ctx.clock.phase("metrics"):
        arrays.update(curve_arrays(q_codes, prov.codes["database"], labels, db_labels,
                                   plan.ties))
    arrays.update(database_sample(prov.codes["database"], db_labels))
    arrays["labels"] = labels.to(torch.uint8).cpu().numpy()
    return arrays


def measure_attack(plan: CellPlan, ctx: CellContext, out: Outcome) -> dict[str, np.ndarray]:
    """Retrieval under the cell's attack, at the plan's budget."""
    cell, data, q_idx = plan.cell, plan.data, _queries(plan)
    prov, _, _, arrays = model_and_clean(plan, ctx, out, q_idx)
    attack = make_attack(plan)
    services = Services(
        ctx.progress, ctx.clock, source=lambda: ctx.models.source_model(cell, data),
        surrogate=lambda backbone, method: ctx.models.surrogate_model(cell, data, backbone,
                                                                      method),
        cache=AttackStates(ctx.models.store, prov.key))
    metrics, more, cost = attack_metrics(plan.setting(q_idx), prov, attack, services)
    out.metrics.update(metrics)
    out.cost.update(cost)
    out.attack = PluginRef.from_dict(plugin_ref(attacks, cell.attack, attack), "attack")
    return {**arrays, **more}


def measure_worst_case(plan: CellPlan, ctx: CellContext, out: Outcome) -> dict[str, np.ndarray]:
    """Per query, the lowest AP over the member cells' records (read from their sidecars);
    with a convergence check, how far its runs at a larger budget lower that worst case."""
    _, _, _, arrays = model_and_clean(plan, ctx, out, _queries(plan))
    with ctx.clock.phase("io"):
        members = {a: read_sidecar(p, load_record(p))["ap"]
                   for a, p in member_paths(plan).items()}
        checks = {a: read_sidecar(p, load_record(p))["ap"]
                  for a, p in member_paths(plan, plan.cell.converge_with).items()}
    metrics, more = worst_case_metrics(members)
    for name, ap in checks.items():  # one check per suite: CellSpec.converge_with
        attack, _, factor = name.rpartition("-x")
        both = np.minimum(more["ap"], ap)
        at_scale = float(both.mean()) if both.size else 0.0
        metrics["convergence"] = {"attack": attack, "factor": int(factor), "map": at_scale,
                                  "drop": max(0.0, metrics["map"] - at_scale)}
    out.metrics.update(metrics)
    return {**arrays, **more}


MEASURES = {"clean": measure_clean, "attack": measure_attack, "worst_case": measure_worst_case}


def _queries(plan: CellPlan) -> torch.Tensor:
    return torch.arange(plan.n_queries)


def make_attack(plan: CellPlan):
    """The cell's attack at the plan's budget for its query modality: ``eps`` for image
    queries, ``flips`` (the dataset's text budget) for text queries."""
    cell = plan.cell
    modality = attacks.get(cell.attack).modality
    if modality != cell.query_modality:
        where = ("an image-text group's text_attacks" if modality == "text"
                 else "attacks (image queries)")
        raise ConfigError(f"attack '{cell.attack}' perturbs {modality} queries, but this "
                          f"cell attacks {cell.query_modality} queries; list it under {where}")
    return attacks.create(cell.attack, **{**cell.attack_params, **plan.budget.params()})


def member_paths(plan: CellPlan, names: tuple[str, ...] | None = None) -> dict[str, Path]:
    """The finished records of a worst case's members (or of ``names``), beside its own."""
    out = {}
    for name in plan.cell.worst_case_of if names is None else names:
        p = plan.path.with_name(f"{name}.json")
        if not p.is_file():
            raise HashbenchError(f"worst case needs {p}; run the '{name}' cell first")
        rec = load_record(p)
        if rec["status"] != "ok":
            raise HashbenchError(f"worst case needs {p}, which failed: {rec['error']}")
        out[name] = p
    return out
