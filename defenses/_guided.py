"""Code-guided adversarial training, the family of CgAT (and of SAAT, and of the image-text
defenses that vary it): the loop, its defaults and their papers. Not a plugin itself (no entry
point): the defenses of the family subclass what is here.

* ``GuidedATParams``: CgAT's defaults (Wang et al., WWW 2023: SGD 0.01, momentum 0.9, wd 5e-4,
  30 epochs, batch 32, lr x0.1 at 50% and 75%) and the inner attack (7 sign steps of eps/4 from
  a random start; any registered attack, its own parameters in ``inner_params``).
* ``MainstayATParams``: SAAT's defaults (Yuan et al., TIFS 2023: SGD 0.05, no momentum,
  wd 1e-5, 20 epochs; mu = 1e-4 on the adversarial codes' quantisation).
* ``GuidedAdversarialTraining``: per minibatch, an inner attack pushes the query's code away
  from its reference code (``reference_codes``: CgAT's centers, SAAT's mainstays) over the bank
  of the latest train codes; the loss is the hashing loss on clean inputs minus ``adv_weight``
  times the adversarial codes' agreement with the reference, plus ``extra_loss``.

A change here trains other CgAT, SAAT and image-text CgAT/SAAT models: bump their versions
(their golden tests say so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from hashbench.api import Citation, Defense, Need, QueryBatch
from hashbench.kit.defense_kit import TrainingParams
from hashbench.kit.training import encode_split
from hashbench.metrics import binarize

CGAT_CITATION = Citation(
    key="Wang2023CgAT",
    title="CgAT: Center-Guided Adversarial Training for Deep Hashing-Based Retrieval",
    url="https://arxiv.org/abs/2204.10779",
)
SAAT_CITATION = Citation(
    key="Yuan2023Semantic",
    title="Semantic-Aware Adversarial Training for Reliable Deep Hashing Retrieval",
    url="https://arxiv.org/abs/2310.14637",
)


@dataclass(frozen=True)
class GuidedATParams(TrainingParams):
    MILESTONES: ClassVar[tuple[float, ...]] = (0.5, 0.75)

    epochs: int = field(default=30, metadata={"min": 0, "max": 10000, "help": "CgAT: 30"})
    batch_size: int = field(default=32, metadata={"min": 1})
    steps: int = field(default=7, metadata={"min": 1, "max": 1000, "help": "inner PGD iterations"})
    step_frac: float = field(default=0.25, metadata={"min": 0.0, "max": 1.0,
                                                     "help": "inner step = step_frac * eps"})
    adv_weight: float = field(default=1.0, metadata={"min": 0.0, "help": "weight of the "
                                                     "adversarial alignment term"})
    inner_attack: str = field(default="center_pgd", metadata={"help": "registry name"})
    inner_params: dict = field(default_factory=dict, metadata={
        "help": "the inner attack's own parameters, applied last (any registered attack)"})


@dataclass(frozen=True)
class MainstayATParams(GuidedATParams):
    epochs: int = field(default=20, metadata={"min": 0, "max": 10000, "help": "SAAT: 20"})
    lr: float = field(default=0.05, metadata={"min": 0.0})
    momentum: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    weight_decay: float = field(default=1e-5, metadata={"min": 0.0})
    adv_weight: float = field(default=1.0, metadata={"min": 0.0, "help": "lambda"})
    quant_weight: float = field(default=1e-4, metadata={"min": 0.0, "help": "mu"})


class GuidedAdversarialTraining(Defense):
    """Code-guided adversarial training of an image hashing model (see the module docstring);
    a subclass names its reference codes (``code_kind``, ``reference_codes``) and may add a
    term on the adversarial outputs (``extra_loss``)."""

    needs = frozenset({Need.TRAIN_LABELS})
    code_kind: ClassVar[str] = "center"

    def reference_codes(self, labels: torch.Tensor, bank: torch.Tensor,
                        bank_labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_loss(self, u_adv: torch.Tensor) -> torch.Tensor:
        return u_adv.new_zeros(())

    def fit(self, model, split, ctx):
        p = self.params
        loss = ctx.make_hash_loss()
        inner = ctx.inner_attack(p.inner_attack, p.inner_params, eps=ctx.eps, steps=p.steps,
                                 step=p.step_frac * ctx.eps, random_start=True, loss="mean",
                                 schedule="constant", code=self.code_kind)
        device = next(model.parameters()).device
        bank = encode_split(model, split).to(device)
        labels = split.labels.to(device)

        def step(batch, t):
            actx = ctx.attack_context(inner, f"inner/{t}", train_codes=bank, train_labels=labels)
            x_adv = inner.perturb(model, batch.x, QueryBatch(index=batch.idx, labels=batch.y),
                                  None, actx)
            u = model(batch.x, alpha=loss.train_alpha(t))
            u_adv = model(x_adv)
            bank[batch.idx] = binarize(u.detach())
            ref = self.reference_codes(batch.y, bank, labels)
            align = (u_adv * ref).mean()
            return loss(u, batch.y, batch.idx) - p.adv_weight * align + self.extra_loss(u_adv)

        return ctx.fit(model, split, step, p.train_config())
