"""What a cell measures: clean retrieval, retrieval under one attack, or the per-query worst case.

Each function returns (metrics, per-query arrays); the runner writes them as record + sidecar.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Callable

import numpy as np
import torch

from hashbench.api import AttackContext, Need, QueryBatch, RankingOracle, SourceModel, StateCache
from hashbench.data import RetrievalData
from hashbench.errors import PluginError
from hashbench.harness.guards import blame, global_rng_untouched, unchanged_model
from hashbench.harness.sandbox import RankingSandbox
from hashbench.harness.threat_model import check_adversarial, check_text_adversarial
from hashbench.harness.timing import PhaseClock
from hashbench.kit.optim import eval_mode
from hashbench.metrics import (
    Ties,
    _cpu_threads,
    average_precision,
    binarize,
    precision_recall_curve,
    random_ranking_map,
)
from hashbench.metrics.ties import expected_average_precision, expected_precision_recall
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.records.intervals import bootstrap_ci
from hashbench.registry import attacks

ATTACK_BATCH = 128
CURVE_POINTS = 100  # ranking cutoffs kept for the PR and P@N curves of a cell
DB_SAMPLE = 1000  # database codes kept (evenly spaced) for the t-SNE maps


class Counter:
    """Images passed forward and backward through a model (forward hook + output-grad hook)."""

    def __init__(self):
        self.forward = 0
        self.backward = 0

    @contextmanager
    def attach(self, model: torch.nn.Module):
        def hook(_module, args, out):
            n = args[0].shape[0]
            self.forward += n
            if out.requires_grad:
                out.register_hook(lambda g: self._back(n))

        handle = model.register_forward_hook(hook)
        try:
            yield self
        finally:
            handle.remove()

    def _back(self, n: int) -> None:
        self.backward += n


@dataclass(frozen=True)
class QuerySide:
    """What differs between attacking image queries and text queries: the inputs, the budget,
    the harness's check of it, and the per-query size of a perturbation."""

    modality: str

    def inputs(self, split, idx: torch.Tensor) -> torch.Tensor:
        return split.texts[idx] if self.modality == "text" else split.images(idx)

    def check(self, attack, x: torch.Tensor, x_adv: torch.Tensor, budget: dict) -> None:
        """The harness's check of one adversarial batch against the cell's budget (the plan's
        ``{"eps": e}`` or ``{"flips": n}``; never the plugin's own idea of it)."""
        source = f"attack {attack.name}"
        if self.modality == "text":
            check_text_adversarial(x, x_adv, budget["flips"], source)
        else:
            check_adversarial(x, x_adv, budget["eps"], source)

    def norms(self, x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
        delta = (x_adv - x).flatten(1)
        if self.modality == "text":
            return {"flips": (delta != 0).sum(1).to(torch.float32).cpu()}
        return {"linf": delta.abs().max(1).values.cpu(), "mse": delta.pow(2).mean(1).cpu()}


IMAGE_SIDE, TEXT_SIDE = QuerySide("image"), QuerySide("text")
QUERY_SIDES = {"image": IMAGE_SIDE, "text": TEXT_SIDE}


def retrieval_data(prov, data, device: torch.device) -> dict:
    """What a model gives an attack of itself, keyed by ``Need`` value: the train and database
    codes and their labels (the one mapping, for attacked and transfer-source models alike)."""
    return {Need.TRAIN_CODES.value: prov.codes["train"],
            Need.TRAIN_LABELS.value: data.train.labels.to(device),
            Need.DATABASE_CODES.value: prov.codes["database"],
            Need.DATABASE_LABELS.value: data.database.labels.to(device)}


def _numpy(*tensors):
    return [t.detach().cpu().numpy() for t in tensors]


def floor_map(q_labels, db_labels, topk, ties: Ties = "index") -> float:
    """The board's random floor: for "expected" ties, the exact expected mAP@K of a random
    ranking (a model whose codes are all equal scores it); for "index", each query's fraction
    of relevant items, as the suites before it recorded."""
    if ties != "expected":
        return random_ranking_map(q_labels, db_labels)
    ones_q, ones_db = np.ones((q_labels.shape[0], 1)), np.ones((db_labels.shape[0], 1))
    ql, dbl = _numpy(q_labels, db_labels)
    ap, _ = expected_average_precision(ones_q, ones_db, ql, dbl, topk, _cpu_threads())
    return float(ap.mean()) if ap.size else 0.0


def curve_arrays(codes, db_codes, labels, db_labels, ties: Ties = "index"
                 ) -> dict[str, np.ndarray]:
    """The sidecar arrays that let ``hashbench report`` draw curves without the model: precision
    and recall at ~100 ranking cutoffs (PR and P@N curves; the queries with a relevant item)
    and the query codes themselves."""
    n_db = db_codes.shape[0]
    cut = np.unique(np.linspace(1, n_db, min(CURVE_POINTS, n_db)).round().astype(np.int64))
    if ties == "expected":
        q, db, ql, dbl = _numpy(binarize(codes), binarize(db_codes), labels, db_labels)
        p, r = expected_precision_recall(q, db, ql, dbl, cut, _cpu_threads())
        keep = ~np.isnan(r[:, 0]) if len(r) else np.zeros(0, dtype=bool)
        denom = max(int(keep.sum()), 1)
        precision, recall = p[keep].sum(0) / denom, r[keep].sum(0) / denom
    else:
        pr = precision_recall_curve(codes, db_codes, labels, db_labels, cut)
        precision, recall = pr.precision, pr.recall
    return {"curve_cutoffs": cut, "curve_precision": precision, "curve_recall": recall,
            "codes": codes.to(torch.int8).cpu().numpy()}


def database_sample(db_codes, db_labels) -> dict[str, np.ndarray]:
    """Evenly spaced database items (codes and labels): the background of the t-SNE maps."""
    n = db_codes.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(DB_SAMPLE, n)).round().astype(np.int64))
    t = torch.as_tensor(idx, device=db_codes.device)
    return {"db_sample_index": idx, "db_sample_codes": db_codes[t].to(torch.int8).cpu().numpy(),
            "db_sample_labels": db_labels[t.to(db_labels.device)].to(torch.uint8).cpu().numpy()}


def clean_metrics(q_codes, prov, data, q_labels, targets, topk, ties: Ties = "index"
                  ) -> tuple[dict, dict]:
    db, db_labels = prov.codes["database"], data.database.labels.to(q_codes.device)
    ap = average_precision(q_codes, db, q_labels, db_labels, topk, ties)
    has_t = targets.any(dim=1)
    t_ap = average_precision(q_codes[has_t], db, targets[has_t], db_labels, topk, ties)
    metrics = {"clean_map": ap.mean(), "clean_map_ci95": bootstrap_ci(ap.ap),
               "clean_t_map": t_ap.mean(),
               "random_map": floor_map(q_labels, db_labels, topk, ties),
               **({"ties": ties} if ties != "index" else {})}
    return metrics, {"clean_ap": ap.ap}


@dataclass(frozen=True)
class AttackSetting:
    """What one attack measurement runs under: the data, the queries attacked (indices into
    the query split), the protocol's mAP@K, the name of its seeded draws, the root seed, the
    query side, the budget the harness holds every batch to (None: the attack's own eps or
    flips, for callers without a cell plan) and how ties are scored. A cell's plan makes one
    (``CellPlan.setting``); tests and benchmarks build their own."""

    data: RetrievalData
    queries: torch.Tensor
    topk: int | None
    scope: str
    seed: int
    side: QuerySide = IMAGE_SIDE
    budget: dict | None = None
    ties: Ties = "index"

    def budget_of(self, attack) -> dict:
        if self.budget is not None:
            return self.budget
        return {"flips": attack.params.flips} if self.side.modality == "text" else \
            {"eps": attack.params.eps}


@dataclass
class Services:
    """What an attack may draw on beyond its model, each loaded only if it reads it: the
    undefended model of the same configuration (``source()``, transfer attacks), an undefended
    model of another architecture (``surrogate(backbone, method)``), the cache of state fitted
    per model; and where progress and time go."""

    progress: Progress = NULL_PROGRESS
    clock: PhaseClock = dataclass_field(default_factory=PhaseClock)
    source: Callable[[], SourceModel | None] | None = None
    surrogate: Callable[[str, str], SourceModel] | None = None
    cache: StateCache | None = None


def attack_metrics(setting: AttackSetting, prov, attack, services: Services | None = None
                   ) -> tuple[dict, dict, dict]:
    """Run ``attack`` on ``setting``'s queries against ``prov`` (a provisioned model with its
    codes), check every batch against the setting's budget, and score the adversarial codes:
    (metrics, per-query arrays, cost). A ranking-only attack gets a ``RankingOracle`` over
    the model in its place, never the model."""
    services = services or Services()
    adv, norms, spent, counter, report = _run_attack(setting, prov, attack, services)
    with services.clock.phase("metrics"):
        metrics, arrays = score_adversarial(adv, prov, setting.data, setting.queries,
                                            setting.topk, attack.targeted, norms, setting.ties)
    if report is not None:
        metrics["ensemble"] = report.metrics
        arrays.update(report.arrays)
    cost = {"attack_steps": int(getattr(attack.params, "steps", 0)),
            "forward_images": counter.forward, "backward_images": counter.backward}
    if spent:
        queries = torch.cat(spent)
        cost.update(queries_mean=float(queries.to(torch.float64).mean()),
                    queries_max=int(queries.max()))
        arrays["queries"] = queries.numpy()
    return metrics, arrays, cost


def _attack_context(setting: AttackSetting, prov, attack, services: Services) -> AttackContext:
    data, device = setting.data, next(prov.model.parameters()).device
    provided: dict[str, Any] = {**retrieval_data(prov, data, device),
                                Need.TRAIN_IMAGES.value: data.train}
    if services.source is not None:
        provided[Need.SOURCE_MODEL.value] = services.source if not attack.blackbox else \
            _other_source(services.source, prov.model)
    if services.surrogate is not None:
        provided[Need.SURROGATE_MODEL.value] = services.surrogate
    return AttackContext.for_attack(attack, setting.seed, setting.scope, setting.topk,
                                    make_attack=attacks.create, cache=services.cache,
                                    ties=setting.ties, **provided)


def _other_source(source: Callable[[], SourceModel | None], model) -> Callable:
    """The source model for a black-box attack, which is given no handle on the attacked model:
    None when the source is the attacked model itself (a transfer from itself would be
    white-box; the attack leaves the queries clean, as it did when it could compare models)."""
    def get() -> SourceModel | None:
        src = source()
        return None if src is None or src.model is model else src

    return get


def _run_attack(setting: AttackSetting, prov, attack, services: Services):
    """The adversarial codes of every batch (each checked against the budget), their
    perturbation sizes, the oracle queries spent, the images counted and the attack's report.

    What the attack is given is decided here, never by the plugin's word alone: a white-box
    attack gets the model; a ``blackbox`` one (transfer) a ranked-list oracle in its place; a
    ranking-only one runs in a sandbox process that never holds the model (``sandbox``). Either
    of the last two that makes the model compute a gradient fails its cell."""
    data, model, side = setting.data, prov.model, setting.side
    device, budget = next(model.parameters()).device, setting.budget_of(attack)
    ctx = _attack_context(setting, prov, attack, services)
    plugin = f"attack '{attack.name}'"
    access = "ranking" if attack.access == "ranking" else "oracle" if attack.blackbox \
        else "model"
    rank = ranked_ids(model, prov.codes["database"]) if access != "model" else None
    codes, norms, spent, counter = [], [], [], Counter()
    task, q_idx, clock = f"attack:{setting.scope}", setting.queries, services.clock
    services.progress.start(task, len(q_idx), f"{attack.name} on {setting.scope}")
    # the model is shared by every later cell and the global RNG by everything: an attack that
    # changes either fails its cell (the guards name it) instead of changing other numbers
    try:
        with unchanged_model(model, plugin), global_rng_untouched(plugin), blame(plugin), \
                counter.attach(model), _sandbox(attack, setting, access) as box:
            with clock.phase("fitting"):
                state = None if box else attack.prepare(model if access == "model" else None,
                                                        ctx)
            for start in range(0, len(q_idx), ATTACK_BATCH):
                idx = q_idx[start:start + ATTACK_BATCH]
                x = side.inputs(data.query, idx).to(device)
                batch = _batch(attack, data, idx, device)
                with clock.phase("attack"):
                    if access == "model":
                        x_adv = attack.perturb(model, x, batch, state, ctx)
                    else:
                        oracle = _oracle(rank, setting, attack, len(idx))
                        x_adv = box.perturb(oracle, x, batch) if box else \
                            attack.perturb(oracle, x, batch, state, ctx)
                        spent.append(oracle.spent)
                    side.check(attack, x, x_adv, budget)
                    norms.append(side.norms(x, x_adv))
                    with torch.no_grad(), eval_mode(model):
                        codes.append(model.encode(x_adv))
                services.progress.advance(task, len(idx))
            report = box.report() if box else attack.report(state)
    finally:
        services.progress.finish(task)
    if access != "model" and counter.backward:
        raise PluginError(f"{plugin} has {access} access but made the model compute "
                          f"{counter.backward} input gradients: it reached the model")
    adv = torch.cat(codes)
    if not torch.isfinite(adv).all():
        raise PluginError(f"attack {attack.name}: the model produced non-finite codes")
    sizes = {k: torch.cat([n[k] for n in norms]) for k in norms[0]} if norms else {}
    return adv, sizes, spent, counter, report


def _oracle(rank, setting: AttackSetting, attack, n: int) -> RankingOracle:
    """The ranked-list oracle over a batch of ``n`` queries: the protocol's top K (or the whole
    database), ``params.queries`` queries per image (none for an attack without a budget)."""
    length = len(setting.data.database) if setting.topk is None else \
        min(setting.topk, len(setting.data.database))
    return RankingOracle(rank, n, length, int(getattr(attack.params, "queries", 0) or 0),
                         f"attack {attack.name}")


@contextmanager
def _sandbox(attack, setting: AttackSetting, access: str):
    """A sandbox process running ``attack`` when it is ranking-only, else None."""
    if access != "ranking":
        yield None
        return
    with RankingSandbox(attack, setting.seed, setting.scope, setting.topk, setting.ties) as box:
        yield box


def _batch(attack, data, idx: torch.Tensor, device) -> QueryBatch:
    """The labels of a batch an attack declared it needs (and nothing else)."""
    return QueryBatch(
        index=idx,
        labels=data.query.labels[idx].to(device) if Need.QUERY_LABELS in attack.needs else None,
        target_labels=(data.target_labels[idx].to(device)
                       if Need.TARGET_LABELS in attack.needs else None))


def ranked_ids(model: Any, db_codes: torch.Tensor
               ) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """What a deployed retrieval system answers: for query images, the ids of its ``k`` nearest
    database items by Hamming distance, ties by database index (the protocol's ranking)."""
    db = binarize(db_codes).to(torch.float32)
    n, bits = db.shape
    order = torch.arange(n, device=db.device)

    def rank(x: torch.Tensor, k: int) -> torch.Tensor:
        with torch.no_grad(), eval_mode(model):
            q = model.encode(x).to(torch.float32)
        dist = ((bits - q @ db.T) / 2).round().to(torch.int64)
        return (dist * n + order).topk(k, dim=1, largest=False, sorted=True).indices

    return rank


def score_adversarial(adv, prov, data, q_idx, topk, targeted: bool,
                      norms: dict[str, torch.Tensor], ties: Ties = "index") -> tuple[dict, dict]:
    """mAP (and t-mAP for a targeted attack) of adversarial query codes, with the sizes of their
    perturbations (``linf`` and ``mse`` for images, ``flips`` for texts; one value per query)."""
    device = adv.device
    db, db_labels = prov.codes["database"], data.database.labels.to(device)
    labels = data.query.labels[q_idx].to(device)
    ap = average_precision(adv, db, labels, db_labels, topk, ties)
    metrics = {"map": ap.mean(), "map_ci95": bootstrap_ci(ap.ap)}
    for name, values in norms.items():
        metrics[f"{name}_mean"] = float(values.mean())
        if name != "mse":
            metrics[f"{name}_max"] = float(values.max())
    arrays = {"ap": ap.ap, **{k: v.numpy() for k, v in norms.items() if k != "mse"},
              **curve_arrays(adv, db, labels, db_labels, ties)}
    if targeted:
        targets = data.target_labels[q_idx].to(device)
        has_t = targets.any(dim=1)
        t_ap = average_precision(adv[has_t], db, targets[has_t], db_labels, topk, ties)
        metrics["t_map"] = t_ap.mean()
        full = np.zeros(len(q_idx))
        full[has_t.cpu().numpy()] = t_ap.ap
        arrays["t_ap"] = full
    return metrics, arrays


def worst_case_metrics(member_aps: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Per query, the lowest AP over the member attacks; then the mean (docs/design.md, the headline number)."""
    stacked = np.stack([member_aps[k] for k in sorted(member_aps)])
    worst = stacked.min(axis=0)
    which = np.array(sorted(member_aps))[stacked.argmin(axis=0)]
    return ({"map": float(worst.mean()) if worst.size else 0.0,
             "map_ci95": bootstrap_ci(worst), "worst_case_of": sorted(member_aps)},
            {"ap": worst, "argmin_attack": which.astype("U")})
