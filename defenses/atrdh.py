"""ATRDH: adversarial training with targeted attacks toward learned prototype codes.

Wang, Zhang, Lu, Xu, "Targeted Attack and Defense for Deep Hashing", SIGIR 2021
(xunguangwang/Targeted-Attack-and-Defense-for-Deep-Hashing defense.py). A PrototypeNet maps a
label vector to a code and is trained alongside the hashing model; each minibatch is attacked
with targeted PGD toward the prototype code of a random target label, and the hashing loss is
applied to both the benign and the adversarial outputs against the bank of benign outputs.
Divergences: the benign and adversarial terms use the victim's own hashing loss (as the SAAT
re-implementation does; the official code always uses DPH, P14); PrototypeNet's positive and
negative masks use every pair (the official upper-triangle mask ignores about half, P13); the
inner attack runs in eval mode (P6).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch

from hashbench.api import Citation, Defense, Need
from hashbench.kit.defense_kit import TrainingParams
from hashbench.kit.optim import projected_descent
from hashbench.kit.prototypes import PrototypeNet, prototype_loss
from hashbench.kit.training import TrainConfig, encode_split
from hashbench.metrics import binarize


@dataclass(frozen=True)
class Params(TrainingParams):
    MILESTONES: ClassVar[tuple[float, ...]] = (0.5, 0.75)

    epochs: int = field(default=100, metadata={"min": 0, "max": 10000, "help": "ATRDH: 100"})
    batch_size: int = field(default=32, metadata={"min": 1})
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = field(default=1e-4, metadata={"min": 0.0})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    proto_lr: float = field(default=1e-4, metadata={"min": 0.0})
    proto_hidden: int = field(default=4096, metadata={"min": 8})
    steps: int = field(default=7, metadata={"min": 1, "max": 1000, "help": "inner PGD iterations"})
    step_frac: float = field(default=0.25, metadata={"min": 0.0, "max": 1.0,
                                                     "help": "inner step = step_frac * eps"})
    adv_weight: float = field(default=1.0, metadata={"min": 0.0})

    def train_config(self) -> TrainConfig:
        # ATRDH's Adam betas (0.5, 0.999)
        return dataclasses.replace(super().train_config(), betas=(0.5, 0.999))


class ATRDH(Defense):
    """Adversarial training against targeted attacks toward prototype codes.

    Paper: Wang et al., Targeted Attack and Defense for Deep Hashing, SIGIR 2021,
    https://doi.org/10.1145/3404835.3463233.
    Threat model: l-inf at the protocol's eps (inner attack: targeted, 7 sign steps of eps/4,
    random start).
    Needs: train labels, database labels (target labels are drawn from its unique vectors).
    Defaults: official defense.py: Adam lr 1e-4 with betas (0.5, 0.999) for the model and the
    PrototypeNet, 100 epochs, batch 32, lr x0.1 at 50% and 75%, adversarial weight 1.

    Example:
        >>> ATRDH(epochs=5).params.steps
        7
    """

    name = "atrdh"
    version = 1
    needs = frozenset({Need.TRAIN_LABELS, Need.DATABASE_LABELS})
    Params = Params
    citation = Citation(key="Wang2021Targeted", title="Targeted Attack and Defense for Deep "
                        "Hashing", url="https://doi.org/10.1145/3404835.3463233")

    def fit(self, model, split, ctx):
        p = self.params
        device = next(model.parameters()).device
        loss = ctx.make_hash_loss()
        labels = split.labels.to(device)
        candidates = torch.unique(ctx.database_labels, dim=0)
        candidates = candidates[candidates.sum(1) > 0].to(device)
        gen = ctx.rng("atrdh/targets")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
            proto = PrototypeNet(labels.shape[1], model.bits, p.proto_hidden).to(device)
        proto_opt = torch.optim.Adam(proto.parameters(), lr=p.proto_lr, betas=(0.5, 0.999))
        codes = encode_split(model, split).to(device)
        eps = ctx.eps

        def step(batch, t):
            u = model(batch.x, alpha=loss.train_alpha(t))
            codes[batch.idx] = binarize(u.detach())
            pick = torch.randint(0, len(candidates), (len(batch.idx),), generator=gen)
            targets = candidates[pick.to(device)]
            target_codes = binarize(proto(targets).detach())  # before the prototype step
            proto_opt.zero_grad(set_to_none=True)
            prototype_loss(proto(targets), targets, codes, labels).backward()
            proto_opt.step()
            x_adv = projected_descent(
                model, batch.x, lambda out, _t: -(out * target_codes).mean(1), eps=eps,
                step=p.step_frac * eps, steps=p.steps, generator=ctx.rng(f"inner/{t}"),
            )
            benign = loss(u, batch.y, batch.idx)
            adversarial = loss(model(x_adv), batch.y, batch.idx, update=False)
            return benign + p.adv_weight * adversarial

        return ctx.fit(model, split, step, p.train_config())
