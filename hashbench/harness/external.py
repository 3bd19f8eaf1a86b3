"""External evaluations: which model a file of adversarial queries is scored against, and reading
that file; the checks against the protocol and the scoring (``score_external``)."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from pathlib import Path

import torch

from hashbench.data import load_dataset
from hashbench.errors import ResultError, ThreatModelError
from hashbench.harness.cell_record import record
from hashbench.harness.evaluate import IMAGE_SIDE, score_adversarial
from hashbench.harness.measures import model_and_clean
from hashbench.harness.provenance import provenance, utc_now
from hashbench.harness.suites import CLEAN, CellSpec, Suite
from hashbench.harness.threat_model import check_adversarial
from hashbench.harness.work import CellWork
from hashbench.records.io import sidecar_path, write_record, write_sidecar
from hashbench.records.types import PluginRef, SidecarRef


def external_cell(suite: Suite, dataset: str, defense: str, model_id: str | None) -> CellSpec:
    """The clean cell (protocol eps) of ``suite`` for this dataset, defense and model; the
    defense may be one the suite does not list (as ``run --add-defense``)."""
    cells = [c for c in suite.with_defenses([defense]).cells()
             if c.attack == CLEAN and c.dataset == dataset and c.defense == defense
             and c.eps is None  # no group eps: the protocol's (cells.at_protocol_eps)
             and (model_id is None or c.model_id == model_id)]
    models = sorted({c.model_id for c in cells})
    if len(models) != 1:
        raise ResultError(
            f"suite {suite.name} has {len(models)} models for dataset {dataset}"
            + (f" ({', '.join(models)}); pick one with --model" if models else
               "; check --dataset and --model against `hashbench list` and the suite file"))
    return cells[0]


def load_queries(path: Path) -> tuple[torch.Tensor, str]:
    """The float tensor in a torch file (read with ``weights_only``) and the file's sha256."""
    try:
        raw = Path(path).read_bytes()
        adv = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one line
        raise ResultError(f"{path}: not a readable torch tensor file ({err})") from err
    if not isinstance(adv, torch.Tensor) or not adv.is_floating_point():
        raise ResultError(f"{path}: expected one float tensor (N, C, H, W), got "
                          f"{type(adv).__name__}")
    return adv, hashlib.sha256(raw).hexdigest()


def score_external(work: CellWork, cell: CellSpec, adv: torch.Tensor, name: str, source: Path,
                   sha256: str, targeted: bool) -> Path:
    """Score adversarial queries made outside hashbench against ``cell``'s model and write
    a record marked external. ``adv`` must hold the first N protocol queries, perturbed
    within the protocol's eps and [0,1]; anything else is refused before scoring."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ResultError(f"external attack name {name!r}: use lower-case letters, digits, "
                          "_ and -")
    data = load_dataset(cell.dataset, work.opt.data_root)
    n = adv.shape[0] if adv.ndim == 4 else 0
    if adv.ndim != 4 or not 1 <= n <= len(data.query) or \
            tuple(adv.shape[1:]) != tuple(data.image_shape):
        raise ThreatModelError(
            f"{source}: expected a float tensor (N, {', '.join(map(str, data.image_shape))}) "
            f"of the first N <= {len(data.query)} {cell.dataset} queries, got "
            f"{tuple(adv.shape)}")
    plan = work.plan(replace(cell, attack=f"external-{name}", queries=n,
                               attack_params={"file": source.name, "sha256": sha256}), data)
    cell, eps = plan.cell, plan.eps
    q_idx = torch.arange(n)
    clean = data.query.images(q_idx)
    linf = check_adversarial(clean, adv.to(clean.dtype), eps, f"external queries {source}")
    started, t0 = utc_now(), time.perf_counter()
    out = work.start(plan)
    prov, _, _, arrays = model_and_clean(plan, work.context, out, q_idx)
    with torch.no_grad():
        adv_codes = prov.model.eval().encode(adv.to(work.device, clean.dtype))
    m, a = score_adversarial(adv_codes, prov, data, q_idx, plan.topk, targeted,
                             IMAGE_SIDE.norms(clean, adv.to(clean.dtype)), plan.ties)
    out.metrics.update(m)
    arrays.update(a)
    out.attack = PluginRef(name=f"external:{name}", version=0,
                           params=dict(cell.attack_params, targeted=targeted),
                           distribution="external", dist_version="n/a", third_party=True,
                           external=True)
    out.sidecar = SidecarRef.from_dict(write_sidecar(sidecar_path(plan.path), arrays))
    write_record(plan.path, record(
        plan, out, provenance(work.device, cell.seed, started, work.opt.amp),
        time.perf_counter() - t0))
    work.progress.log(f"external queries: max l-inf {linf:.4g} <= eps {eps:.4g}")
    return plan.path
