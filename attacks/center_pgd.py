"""Center-guided PGD: move the query's code away from its class center (CgAT) or mainstay (SAAT).

The center code c(y) = sign(mean of positive train codes - mean of negative train codes) comes
from the attacked model's own train-code bank (Wang et al., CgAT, WWW 2023; xunguangwang/CgAT
central_adv_train.py). ``code="mainstay"`` weights positives by label cosine similarity (Yuan et
al., SAAT, TIFS 2023; xandery-geek/SAAT adv_attack.py). The evaluation loss is SAAT's masked one
(model/adv_generator/pgd.py): bits already flipped by a margin of 0.5 drop out. The train-code
bank is computed in eval mode with no augmentation (methods.md 4.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import PGDParams
from hashbench.kit.codes import center_codes, mainstay_codes
from hashbench.kit.optim import Schedule, projected_descent


@dataclass(frozen=True)
class Params(PGDParams):
    random_start: bool = True
    code: Literal["center", "mainstay"] = field(default="center",
                                                metadata={"help": "CgAT center or SAAT mainstay"})
    loss: Literal["masked", "mean"] = field(default="masked",
                                            metadata={"help": "SAAT's masked loss or plain mean"})
    schedule: Schedule = field(default="saat10", metadata={"help": "tanh-scale schedule"})


class CenterPGD(Attack):
    """Untargeted: maximise the Hamming distance between b(x') and the query's center code.

    Paper: Wang et al., CgAT: Center-Guided Adversarial Training for Deep Hashing-Based
    Retrieval, WWW 2023; mainstay variant: Yuan et al., SAAT, TIFS 2023.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted.
    Needs: query labels; train codes and labels of the attacked model.
    Defaults: 100 sign steps of eps/8 (1/255 at 8/255), random start, saat10 schedule, masked
    loss (SAAT's evaluation setting); CgAT / SAAT train with 7 steps of eps/4 and the mean loss.

    Example:
        >>> attack = CenterPGD(eps=0.3, code="mainstay")
        >>> attack.params.steps
        100
    """

    name = "center_pgd"
    version = 1
    targeted = False
    needs = frozenset({Need.QUERY_LABELS, Need.TRAIN_CODES, Need.TRAIN_LABELS})
    Params = Params
    citation = Citation(
        key="Wang2023CgAT",
        title="CgAT: Center-Guided Adversarial Training for Deep Hashing-Based Retrieval",
        url="https://arxiv.org/abs/2204.10779",
    )

    def reference_codes(self, labels: torch.Tensor, ctx) -> torch.Tensor:
        build = mainstay_codes if self.params.code == "mainstay" else center_codes
        return build(labels, ctx.train_codes, ctx.train_labels)

    def objective(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per-sample loss to minimise: agreement of the relaxed code with ``ref``."""
        s = out * ref
        sign = -1.0 if self.targeted else 1.0
        if self.params.loss == "mean":
            return sign * s.mean(1)
        with torch.no_grad():  # only bits not yet pushed past the margin count
            w = ((s < 0.5) if self.targeted else (s > -0.5)).to(out.dtype)
        return sign * (w * (s.pow(2) + 2 * s)).sum(1) / (w.sum(1) + 1e-8)

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        labels = batch.target_labels if self.targeted else batch.labels
        ref = self.reference_codes(labels, ctx).to(x.device)
        gen = ctx.rng(f"random_start/{int(batch.index[0])}") if p.random_start else None
        return projected_descent(
            model, x, lambda out, t: self.objective(out, ref), eps=p.eps,
            step=p.step if p.step is not None else p.eps / 8, steps=p.steps, generator=gen,
            schedule=p.schedule,
        )


class CenterPGDTargeted(CenterPGD):
    """Targeted: pull the query's code onto the center (or mainstay) code of the target label.

    Paper and defaults as ``center_pgd``.
    Threat model: l-inf, eps in [0,1] pixel units; targeted (reports t-mAP and mAP).
    Needs: target labels; train codes and labels of the attacked model.

    Example:
        >>> CenterPGDTargeted(eps=0.3).targeted
        True
    """

    name = "center_pgd_targeted"
    targeted = True
    needs = frozenset({Need.TARGET_LABELS, Need.TRAIN_CODES, Need.TRAIN_LABELS})
