"""HAG (Hash Adversary Generation): push the query's code away from its own clean code.

Yang et al., "Adversarial Examples for Hamming Space Search", IEEE TCYB 2020. No official code
exists; this follows the re-implementation in xandery-geek/SAAT (model/attack_model/hag.py): SGD
with momentum directly on x', a bit mask that drops bits already flipped by margin t, and a
bit-balance term that keeps the adversarial code's bits from all drifting to one sign.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hashbench.api import Attack, Citation
from hashbench.kit.attack_kit import LinfParams, iterations
from hashbench.kit.optim import Schedule, eval_mode, projected_descent


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(100, "iterations (paper: 2000)")
    lr: float = field(default=100.0, metadata={"min": 0.0, "help": "SGD learning rate on x'"})
    momentum: float = field(default=0.9, metadata={"min": 0.0, "max": 1.0})
    margin: float = field(default=0.5, metadata={"min": 0.0, "max": 2.0,
                                                 "help": "t: a bit counts until flipped by t"})
    beta: float = field(default=1.0, metadata={"min": 0.0, "help": "bit-balance weight"})
    schedule: Schedule = field(default="saat10", metadata={"help": "tanh-scale schedule"})


class HAG(Attack):
    """Untargeted: maximise the Hamming distance between b(x') and b(x).

    Paper: Yang et al., Adversarial Examples for Hamming Space Search, TCYB 2020.
    Threat model: l-inf, eps in [0,1] pixel units (8/255 natural images, 0.3 digits); untargeted.
    Needs: the model and the query only.
    Defaults: SGD lr 100, momentum 0.9, t=0.5, beta=1, saat10 schedule (SAAT re-implementation);
    100 steps for the benchmark's budget (the paper's 2000 by ``steps=2000``).

    Example:
        >>> attack = HAG(eps=0.3, steps=10)
        >>> attack.params.margin
        0.5
    """

    name = "hag"
    version = 1
    targeted = False
    needs = frozenset()
    Params = Params
    citation = Citation(
        key="Yang2020Adversarial",
        title="Adversarial Examples for Hamming Space Search",
        url="https://doi.org/10.1109/TCYB.2018.2882908",
    )

    def objective(self, out: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """Per-sample loss: masked normalised inner product driven to -1, plus bit balance."""
        p = self.params
        with torch.no_grad():
            mask = ((out - clean.sign()).abs() < 1 + p.margin).to(out.dtype)
        inner = (mask * out * clean).sum(1) / (mask.sum(1) + 1e-8)
        return (inner + 1).pow(2) + p.beta * out.mean(1).pow(2)

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        with torch.no_grad(), eval_mode(model):
            clean = model(x)
        return projected_descent(
            model, x, lambda out, t: self.objective(out, clean), eps=p.eps, step=p.lr,
            steps=p.steps, schedule=p.schedule, update="sgd", momentum=p.momentum,
        )
