"""APGD-Hash: a parameter-free white-box attack on deep hashing, in the spirit of APGD.

Croce & Hein (ICML 2020) showed that fixed-step PGD with one start overstates robustness and
that a step-size schedule driven by progress, momentum, restarts and several losses fix it. This
is that recipe for Hamming retrieval (``hashbench.kit.apgd`` holds the step schedule):

* **Surrogate losses, run in turn** (each is minimised over relaxed codes f(x') in (-1,1)^K):
  ``clean``  hinge agreement with the query's clean code b(x) (HAG's goal, Yang et al. 2020);
  ``center`` hinge agreement with the CgAT center code of its labels (Wang et al. 2023);
  ``mainstay`` the same with SAAT's mainstay code (Yuan et al. 2023);
  ``target`` hinge pull onto the nearest non-relevant class center: of the classes the query
  does not carry, the one whose center code is nearest its clean code (targeted in code space:
  the cheapest place to send the query where nothing it retrieves is relevant);
  ``margin`` agreement with b(x) on the K/4 not-yet-flipped bits closest to flipping (the
  DLR-like loss: effort goes where a bit is about to cross).
  Hinge: a bit drops out once its relaxed value is past ``-KAPPA`` on the wrong side, so the
  descent stops spending effort on bits already flipped (SAAT's masked loss has the same aim).
* **Best iterate on the real objective**: every iterate's codes are scored with the query's AP
  against the attacked model's database codes (``hashbench.kit.retrieval_objective``), and the
  attack returns, per query, the iterate of lowest AP (ties: nearest the irrelevant side).
* **Only queries still standing** go on to the next loss: a query within 0.005 of the lowest AP
  it can have is done (``DONE_MARGIN``).
* **Restarts**: each loss runs ``restarts`` times from fresh random starts.

Two more losses are run only when asked for by name (``hash_aa``'s second design asks):
``smooth_ap`` descends the metric itself, a tie-aware smooth AP against the database codes
(``hashbench.kit.retrieval_objective.SmoothAP``, temperature ``SMOOTH_TAU``); ``targets`` is
APGD-T over every class a query does not carry (a multi-label query: every class none of its
labels names), each pulled onto that class's center code: every target probed for ``probe``
iterations, the ``keep`` whose probes reached the lowest AP run for ``steps`` (no probe when
``keep`` covers every class).

Its knobs are eps (set by the harness), ``steps`` (per loss and restart), ``restarts`` and,
for ``targets`` only, ``probe`` and ``keep``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hashbench.api import Attack, Need
from hashbench.kit.apgd import apgd
from hashbench.kit.attack_kit import RestartParams, iterations
from hashbench.kit.citations import AUTOATTACK
from hashbench.kit.codes import center_codes, mainstay_codes
from hashbench.kit.optim import eval_mode
from hashbench.kit.retrieval_objective import BestTracker, RetrievalScore, SmoothAP
from hashbench.metrics import binarize, hamming_distance

LOSSES = ("clean", "center", "mainstay", "target", "margin", "rank")
# asked for by name only (hash_aa's second design): the metric itself, relaxed (SmoothAP), and
# a pull onto every class the query does not carry, probed and the best kept
EXTRA_LOSSES = ("smooth_ap", "targets")
KAPPA = 0.2  # hinge margin on relaxed codes: a bit is flipped "enough" past -KAPPA
# smooth AP's temperature (in squared Hamming levels): the value hash_aa's design 2 was measured
# with (its docstring); much lower bins every item hard into one level and its gradient vanishes
SMOOTH_TAU = 0.5


@dataclass(frozen=True)
class Params(RestartParams):
    steps: int = iterations(100, "iterations per loss and restart")
    losses: tuple = field(default=LOSSES, metadata={
        "help": f"surrogates in turn: {LOSSES}; also {EXTRA_LOSSES}"})
    probe: int = field(default=10, metadata={"min": 1, "max": 100000, "help": "targets: "
                                             "iterations each foreign class is probed for"})
    keep: int = field(default=2, metadata={"min": 1, "max": 1000, "help": "targets: classes "
                                           "kept per query after the probe, run for steps"})

    def __post_init__(self):
        known = LOSSES + EXTRA_LOSSES
        bad = [name for name in self.losses if name not in known]
        if bad or not self.losses:
            raise ValueError(f"apgd_hash: losses {bad or '[]'}: choose from {', '.join(known)}")


def hinge_agreement(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean over bits of relu(ref_k f_k + KAPPA): zero once every bit is flipped by KAPPA."""
    return torch.relu(ref * out + KAPPA).mean(1)


def margin_agreement(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Agreement with ``ref`` on the K/4 unflipped bits nearest to flipping."""
    s = ref * out
    with torch.no_grad():
        m = max(1, s.shape[1] // 4)
        open_bits = s > -KAPPA
        key = torch.where(open_bits, s, torch.full_like(s, float("inf")))
        pick = torch.zeros_like(s, dtype=torch.bool)
        pick.scatter_(1, key.topk(m, dim=1, largest=False).indices, True)
        pick &= open_bits
    w = pick.to(s.dtype)
    return (w * (s + KAPPA)).sum(1) / w.sum(1).clamp(min=1)


def class_centers(train_codes, train_labels) -> torch.Tensor:
    """The center code of every class (one label each), from the train codes."""
    n_classes = train_labels.shape[1]
    return center_codes(torch.eye(n_classes, device=train_codes.device), train_codes,
                        train_labels)


def nearest_foreign_centers(labels, clean, train_codes, train_labels) -> torch.Tensor:
    """Per query, the center code of the class it does not carry whose center is nearest (in
    Hamming distance, ties to the lower class index) to its clean code."""
    centers = class_centers(train_codes, train_labels)
    dist = hamming_distance(clean, centers).to(torch.float32)
    dist[labels.to(torch.bool)] = float("inf")
    pick = dist.argmin(1)
    return centers[pick]


class APGDHash(Attack):
    """Untargeted, parameter-free: APGD's adaptive step on five hashing losses in turn, keeping
    each query's best iterate on its real retrieval AP.

    Paper: Croce & Hein, Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks, ICML 2020 (APGD), adapted to Hamming retrieval.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted (lowers the query's mAP).
    Needs: query labels; train codes and labels (center, mainstay and class centers); database
    codes and labels (the real objective).
    Defaults: 100 iterations per loss, 1 restart, losses clean, center, mainstay, target,
    margin; step 2 eps halving on stalls; momentum 0.75.

    Example:
        >>> attack = APGDHash(eps=0.3, steps=20, losses=("clean", "target"))
        >>> attack.params.restarts
        1
    """

    name = "apgd_hash"
    version = 1
    targeted = False
    needs = frozenset({Need.QUERY_LABELS, Need.TRAIN_CODES, Need.TRAIN_LABELS,
                       Need.DATABASE_CODES, Need.DATABASE_LABELS})
    Params = Params
    citation = AUTOATTACK

    def references(self, model, x, labels, ctx) -> dict[str, torch.Tensor]:
        with torch.no_grad(), eval_mode(model):
            clean = binarize(model(x))
        needed = set(self.params.losses)
        refs = {"clean": clean, "margin": clean}
        if "center" in needed:
            refs["center"] = center_codes(labels, ctx.train_codes, ctx.train_labels)
        if "mainstay" in needed:
            refs["mainstay"] = mainstay_codes(labels, ctx.train_codes, ctx.train_labels)
        if "target" in needed:
            refs["target"] = nearest_foreign_centers(labels, clean, ctx.train_codes,
                                                     ctx.train_labels)
        return {k: v.to(x.device) for k, v in refs.items()}

    @staticmethod
    def loss(name: str, ref: torch.Tensor):
        if name == "target":
            return lambda out: hinge_agreement(out, -ref)
        if name == "margin":
            return lambda out: margin_agreement(out, ref)
        if name == "rank":
            return lambda out: (out * ref).sum(1)
        return lambda out: hinge_agreement(out, ref)

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        x = x.detach()
        score = RetrievalScore(ctx.database_codes, ctx.database_labels, batch.labels, ctx.topk,
                               ctx.ties)
        with torch.no_grad(), eval_mode(model):
            tracker = BestTracker(x, model(x), score)
        refs = self.references(model, x, batch.labels, ctx)
        refs["rank"] = score.direction.to(x.device)
        first = int(batch.index[0]) if len(batch.index) else 0
        smooth = SmoothAP(ctx.database_codes, ctx.database_labels, batch.labels, SMOOTH_TAU) \
            if "smooth_ap" in p.losses else None
        for stage, name in enumerate(p.losses):
            for restart in range(p.restarts):
                rows = (~tracker.done()).nonzero().flatten()
                if rows.numel() == 0:
                    return tracker.x
                dev_rows = rows.to(x.device)
                if name == "targets":
                    self.targets(model, x, rows, batch.labels, refs["clean"], tracker, stage,
                                 ctx, f"{restart}/{first}")
                    continue
                loss = smooth.subset(dev_rows) if name == "smooth_ap" and smooth else \
                    self.loss(name, refs[name][dev_rows])
                apgd(model, x[dev_rows], loss, p.eps, p.steps,
                     ctx.rng(f"apgd/{name}/{restart}/{first}"),
                     lambda xa, out, r=rows, s=stage: tracker.offer(r, xa, out, s))
        return tracker.x

    def targets(self, model, x, rows, labels, clean, tracker, stage: int, ctx, tag: str) -> None:
        """Multi-target APGD: every class a query does not carry is a target (the query pulled
        onto its center code, where nothing it retrieves is relevant); each is probed for
        ``probe`` iterations, and the ``keep`` whose probes reached the lowest AP run for
        ``steps``. A multi-label query's targets are the classes none of its labels name."""
        p, dev = self.params, x.device
        centers = class_centers(ctx.train_codes, ctx.train_labels).to(dev)
        foreign = ~labels[rows.to(labels.device)].to(torch.bool)  # (rows, classes)
        probe_ap = torch.full(foreign.shape, float("inf"), dtype=torch.float64)
        if p.keep >= centers.shape[0]:  # every target kept: nothing to choose, no probe
            probe_ap[foreign] = 0.0
        for c in range(centers.shape[0] if p.keep < centers.shape[0] else 0):
            sub = foreign[:, c].nonzero().flatten()
            if sub.numel() == 0:
                continue
            local = BestTracker(x[rows[sub].to(dev)], clean[rows[sub].to(dev)],
                                tracker.score.subset(rows[sub]))
            ref = centers[c].expand(sub.numel(), -1)
            apgd(model, x[rows[sub].to(dev)], self.loss("target", ref), p.eps,
                 min(p.probe, p.steps), ctx.rng(f"apgd/probe/{c}/{tag}"),
                 lambda xa, out, r=rows[sub], s=sub, lt=local: (
                     lt.offer(torch.arange(len(s)), xa, out),
                     tracker.offer(r, xa, out, stage)))
            probe_ap[sub, c] = local.ap
        keep = probe_ap.argsort(1)[:, :p.keep]
        for c in range(centers.shape[0]):
            sub = ((keep == c).any(1) & torch.isfinite(probe_ap[:, c])).nonzero().flatten()
            live = sub[~tracker.done()[rows[sub]]]
            if live.numel() == 0:
                continue
            ref = centers[c].expand(live.numel(), -1)
            apgd(model, x[rows[live].to(dev)], self.loss("target", ref), p.eps, p.steps,
                 ctx.rng(f"apgd/target/{c}/{tag}"),
                 lambda xa, out, r=rows[live]: tracker.offer(r, xa, out, stage))
