"""Targeted PGD toward a DHTA anchor code (DHTA; P2P when the anchor is one code).

Bai et al., "Targeted Attack for Deep Hashing based Retrieval", ECCV 2020
(jiawangbai/DHTA-master). The anchor is the component-wise majority of n_t database codes whose
label is exactly the target label; the attack minimises -f_alpha(x')^T a / K. Divergences from
the official code, so that every attack of the benchmark shares one threat model: eps and the
step are in [0,1] pixel space (the official 0.032 is in ImageNet-normalised space, a different
budget), the step is a sign step (as the SAAT and ProS-GAN re-implementations do), and target
labels come from the protocol (no label shared with the query), identical for every defense.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import PGDParams, iterations
from hashbench.kit.codes import batch_anchors
from hashbench.kit.optim import Schedule, Update, projected_descent

DHTA_CITATION = Citation(
    key="Bai2020Targeted",
    title="Targeted Attack for Deep Hashing based Retrieval",
    url="https://arxiv.org/abs/2004.07955",
)


@dataclass(frozen=True)
class Params(PGDParams):
    steps: int = iterations(100, "iterations (paper: 2000)")
    n_t: int = field(default=9, metadata={"min": 1, "max": 9, "help": "anchor members"})
    schedule: Schedule = field(default="dhta", metadata={"help": "tanh-scale schedule"})
    update: Update = field(default="sign", metadata={"help": "sign (PGD) or l2 (DHTA official)"})


class TargetedPGD(Attack):
    """Targeted: make the query retrieve items of the target label.

    Paper: Bai et al., Targeted Attack for Deep Hashing based Retrieval, ECCV 2020.
    Threat model: l-inf, eps in [0,1] pixel units; targeted (reports t-mAP and mAP).
    Needs: target labels, database codes and labels of the attacked model.
    Defaults: n_t = 9, DHTA's alpha schedule, sign steps of eps/8 (1/255 at 8/255), 100 steps
    (the paper's 2000 by ``steps=2000``).

    Example:
        >>> attack = TargetedPGD(eps=0.3, steps=10)
        >>> attack.params.n_t
        9
    """

    name = "targeted_pgd"
    version = 1
    targeted = True
    needs = frozenset({Need.TARGET_LABELS, Need.DATABASE_CODES, Need.DATABASE_LABELS})
    Params = Params
    citation = DHTA_CITATION

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        anchor = batch_anchors(batch, ctx, p.n_t).to(x.device)
        k = anchor.shape[1]
        return projected_descent(
            model, x, lambda out, t: -(out * anchor).sum(1) / k, eps=p.eps,
            step=p.step if p.step is not None else p.eps / 8, steps=p.steps,
            schedule=p.schedule, update=p.update,
        )


@dataclass(frozen=True)
class P2PParams(Params):
    n_t: int = field(default=1, metadata={"min": 1, "max": 9, "help": "anchor members"})


class P2P(TargetedPGD):
    """Point-to-point targeted attack: DHTA with a single anchor member (n_t = 1).

    Paper: Bai et al., ECCV 2020 (the P2P baseline). Threat model, needs and defaults as
    ``targeted_pgd`` except n_t = 1.

    Example:
        >>> P2P(eps=0.3).params.n_t
        1
    """

    name = "p2p"
    Params = P2PParams
