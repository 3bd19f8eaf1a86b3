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

Its only knobs are eps (set by the harness), ``steps`` (per loss and restart) and ``restarts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hashbench.api import Attack, Citation, Need
from hashbench.kit.apgd import apgd
from hashbench.kit.attack_kit import RestartParams, iterations
from hashbench.kit.codes import center_codes, mainstay_codes
from hashbench.kit.optim import eval_mode
from hashbench.kit.retrieval_objective import BestTracker, RetrievalScore
from hashbench.metrics import binarize, hamming_distance

LOSSES = ("clean", "center", "mainstay", "target", "margin", "rank")
KAPPA = 0.2  # hinge margin on relaxed codes: a bit is flipped "enough" past -KAPPA


@dataclass(frozen=True)
class Params(RestartParams):
    steps: int = iterations(100, "iterations per loss and restart")
    restarts: int = field(default=1, metadata={"min": 1, "max": 100,
                                               "help": "random restarts per loss"})
    losses: tuple = field(default=LOSSES, metadata={"help": f"surrogates in turn: {LOSSES}"})

    def __post_init__(self):
        bad = [name for name in self.losses if name not in LOSSES]
        if bad or not self.losses:
            raise ValueError(f"apgd_hash: losses {bad or '[]'}: choose from {', '.join(LOSSES)}")


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


def nearest_foreign_centers(labels, clean, train_codes, train_labels) -> torch.Tensor:
    """Per query, the center code of the class it does not carry whose center is nearest (in
    Hamming distance, ties to the lower class index) to its clean code."""
    n_classes = train_labels.shape[1]
    centers = center_codes(torch.eye(n_classes, device=train_codes.device), train_codes,
                           train_labels)
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
    citation = Citation(
        key="Croce2020Reliable",
        title="Reliable evaluation of adversarial robustness with an ensemble of diverse "
              "parameter-free attacks",
        url="https://arxiv.org/abs/2003.01690",
    )

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
        for stage, name in enumerate(p.losses):
            for restart in range(p.restarts):
                rows = (~tracker.done()).nonzero().flatten()
                if rows.numel() == 0:
                    return tracker.x
                dev_rows = rows.to(x.device)
                apgd(model, x[dev_rows], self.loss(name, refs[name][dev_rows]), p.eps, p.steps,
                     ctx.rng(f"apgd/{name}/{restart}/{first}"),
                     lambda xa, out, r=rows, s=stage: tracker.offer(r, xa, out, s))
        return tracker.x
