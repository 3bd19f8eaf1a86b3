"""CgAT: adversarial training that pulls adversarial codes back onto their class center codes.

Wang, Lin, Li, "CgAT: Center-Guided Adversarial Training for Deep Hashing-Based Retrieval", WWW
2023 (xunguangwang/CgAT central_adv_train.py). Per minibatch: center codes from the train-code
bank; inner center-guided PGD (the registry's ``center_pgd`` with the mean loss) maximises the
Hamming distance to them; the outer loss is the hashing loss on clean x minus the mean agreement
of f(x') with the recomputed center codes. Divergence (methods.md P6): the bank starts from codes
computed in eval mode without augmentation, and the inner attack runs in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from hashbench.api import Citation, Defense, Need, QueryBatch
from hashbench.codes import center_codes
from hashbench.metrics import binarize
from hashbench.training import TrainConfig, encode_split


@dataclass(frozen=True)
class Params:
    epochs: int = field(default=30, metadata={"min": 0, "max": 10000, "help": "CgAT: 30"})
    batch_size: int = field(default=32, metadata={"min": 1})
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = field(default=0.01, metadata={"min": 0.0})
    momentum: float = field(default=0.9, metadata={"min": 0.0, "max": 1.0})
    weight_decay: float = field(default=5e-4, metadata={"min": 0.0})
    steps: int = field(default=7, metadata={"min": 1, "max": 1000, "help": "inner PGD iterations"})
    step_frac: float = field(default=0.25, metadata={"min": 0.0, "max": 1.0,
                                                     "help": "inner step = step_frac * eps"})
    adv_weight: float = field(default=1.0, metadata={"min": 0.0, "help": "weight of the "
                                                     "adversarial alignment term"})
    inner_attack: str = field(default="center_pgd", metadata={"help": "registry name"})
    inner_params: dict = field(default_factory=dict, metadata={
        "help": "the inner attack's own parameters, applied last (any registered attack)"})

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size,
                           optimizer=self.optimizer, lr=self.lr, momentum=self.momentum,
                           weight_decay=self.weight_decay, milestones=(0.5, 0.75))


class CgAT(Defense):
    """Center-guided adversarial training (fine-tunes the vanilla model).

    Paper: Wang et al., CgAT: Center-Guided Adversarial Training for Deep Hashing-Based
    Retrieval, WWW 2023, https://arxiv.org/abs/2204.10779.
    Threat model: l-inf at the protocol's eps (inner attack: 7 sign steps of eps/4, random start).
    Needs: train labels (the harness gives the hashing loss and the train split).
    Defaults: CgAT's central_adv_train.py: SGD lr 0.01, momentum 0.9, wd 5e-4, 30 epochs, batch 32,
    lr x0.1 at 50% and 75% of the steps, loss weights 1:1.

    Example:
        >>> CgAT(epochs=5).params.steps
        7
    """

    name = "cgat"
    version = 1
    needs = frozenset({Need.TRAIN_LABELS})
    Params = Params
    citation = Citation(
        key="Wang2023CgAT",
        title="CgAT: Center-Guided Adversarial Training for Deep Hashing-Based Retrieval",
        url="https://arxiv.org/abs/2204.10779",
    )
    code_kind = "center"

    def reference_codes(self, labels, bank, bank_labels):
        return center_codes(labels, bank, bank_labels)

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
