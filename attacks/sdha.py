"""SDHA (Smart Deep Hashing Attack): push the query away from its relevant items, weighting the
nearest ones most.

Lu et al., "A Smart Adversarial Attack on Deep Hashing Based Image Retrieval", ICMR 2021; read
in the re-implementation of xandery-geek/SAAT (model/attack_model/sdha.py). Per query, the
relevant items are the attacked model's train codes that share a label with it. Each one's
distance to the relaxed adversarial code is a smooth Hamming distance (a bit counts fully once
it disagrees, through sigmoid(sigma q r)), weighted by (Hamming distance + 1e-8)^-z of the
current binary code, so the items still closest to the query pull hardest; the attack maximises
the weighted mean distance while an MSE term keeps x' near x (weight 1 against 25/K for the
distance, as the paper's code). Adam on x' itself, projected onto the eps-ball after each step.
A query with no relevant train item is pushed away from its own clean code, as the official
code does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import LinfParams, iterations
from hashbench.kit.optim import Schedule, alpha_at, eval_mode, project
from hashbench.metrics import binarize, relevance

# SDHA's Adam learning rate at its budget of 8/255; rescaled to the cell's eps
PAPER_LR, PAPER_EPS = 0.01, 8 / 255


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(100, "Adam iterations (paper: 1500)")
    lr: float | None = field(default=None, metadata={
        "min": 0.0, "help": "Adam lr on x'; None means 0.01 * eps / (8/255), the paper's ratio"})
    sigma: float = field(default=5.0, metadata={"min": 0.0, "help": "sharpness of a bit's vote"})
    z: float = field(default=0.5, metadata={"min": 0.0, "help": "weight = (distance + 1e-8)^-z"})
    weight: float = field(default=25.0, metadata={"min": 0.0,
                                                  "help": "distance term weight (divided by K)"})
    schedule: Schedule = field(default="saat10", metadata={"help": "tanh-scale schedule"})


class SDHA(Attack):
    """Untargeted: maximise the similarity-weighted smooth Hamming distance of the query's code
    to its relevant train codes, nearest first.

    Paper: Lu et al., A Smart Adversarial Attack on Deep Hashing Based Image Retrieval, ICMR
    2021.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted; white-box.
    Needs: query labels; train codes and labels of the attacked model.
    Defaults: Adam at lr 0.01 per 8/255 of budget (the paper's 0.01 at 8/255, rescaled),
    sigma 5, z 0.5, distance weight 25/K, saat10 schedule (SAAT's re-implementation); 100
    iterations for the benchmark's budget (the paper's 1500 by ``steps=1500``).

    Example:
        >>> SDHA(eps=0.3, steps=10).params.z
        0.5
    """

    name = "sdha"
    version = 1
    targeted = False
    needs = frozenset({Need.QUERY_LABELS, Need.TRAIN_CODES, Need.TRAIN_LABELS})
    Params = Params
    citation = Citation(
        key="Lu2021Smart",
        title="A Smart Adversarial Attack on Deep Hashing Based Image Retrieval",
        url="https://doi.org/10.1145/3460426.3463640",
    )

    def objective(self, out: torch.Tensor, refs: torch.Tensor, weights: torch.Tensor
                  ) -> torch.Tensor:
        """Per query, minus the weighted mean smooth distance of ``out`` (n, K) to the codes
        ``refs`` (N, K) in {-1, 1}, ``weights`` (n, N) zero for items that do not count.

        Bit k adds g(q_k r_k) with g(s) = (1 - s) sigmoid(sigma s) / 2 + 1 - sigmoid(sigma s);
        as r_k is +1 or -1 that is g(q_k) or g(-q_k), so the (n, N) distances are two matrix
        products instead of an (n, N, K) tensor."""
        p = self.params
        with torch.no_grad():
            ham = (out.shape[1] - binarize(out) @ refs.T) / 2
            w = weights * (ham + 1e-8).pow(-p.z)

        def g(s: torch.Tensor) -> torch.Tensor:
            vote = torch.sigmoid(p.sigma * s)
            return 0.5 * (1 - s) * vote + (1 - vote)

        plus = (refs > 0).to(out.dtype)
        dist = g(out) @ plus.T + g(-out) @ (1 - plus).T
        return -(dist * w).sum(1) / weights.sum(1).clamp(min=1)

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        x = x.detach()
        if p.eps <= 0 or p.steps <= 0:
            return x.clone()
        bank = binarize(ctx.train_codes.to(x.device, torch.float32))
        rel = relevance(batch.labels.to(x.device), ctx.train_labels.to(x.device))
        with torch.no_grad(), eval_mode(model):
            clean = binarize(model(x))
        lonely = ~rel.any(1)  # no relevant train item: move away from its own clean code
        refs = torch.cat([bank, clean])
        weights = torch.cat([rel.to(torch.float32),
                             torch.diag(lonely.to(torch.float32))], dim=1)
        lr = p.lr if p.lr is not None else PAPER_LR * p.eps / PAPER_EPS
        x_adv = x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x_adv], lr=lr)
        k = bank.shape[1]
        with eval_mode(model):
            for t in range(p.steps):
                out = model(x_adv, alpha=alpha_at(p.schedule, t, p.steps))
                # per-query sums: a query's path does not depend on its batch
                mse = (x_adv - x).pow(2).flatten(1).mean(1)
                loss = (mse + p.weight / k * self.objective(out, refs, weights)).sum()
                x_adv.grad, = torch.autograd.grad(loss, x_adv)  # never into the model's .grad
                opt.step()
                with torch.no_grad():
                    x_adv.copy_(project(x_adv, x, p.eps))
        return x_adv.detach()
