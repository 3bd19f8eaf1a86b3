"""HashNet: a weighted pairwise logistic loss with a tanh-scale continuation.

Paper: Cao et al., HashNet: Deep Learning to Hash by Continuation, ICCV 2017,
https://arxiv.org/abs/1702.00758. The logistic loss of ``alpha_s * u.U`` against the bank U,
similar and dissimilar pairs weighted to balance; alpha_s = 0.1 (CgAT / DeepHash-pytorch). The
forward pass is ``tanh(scale * z)`` with scale = (1 + 0.005 step)^0.5, raised every 200 steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from hashbench.api import Citation, HashLoss, ImageMethod


@dataclass(frozen=True)
class Params:
    alpha_s: float = field(default=0.1, metadata={"min": 0.0, "help": "inner-product scale"})
    scale_step: float = field(default=0.005, metadata={"min": 0.0,
                                                       "help": "continuation rate per step"})
    scale_every: int = field(default=200, metadata={"min": 1,
                                                    "help": "steps between scale updates"})


class HashNetLoss(HashLoss):
    name = "hashnet"

    def __init__(self, train_labels, bits, generator, params: Params):
        super().__init__(train_labels, bits, generator)
        self.p = params

    def train_alpha(self, step: int) -> float:
        p = self.p
        return math.sqrt(1 + p.scale_step * (step // p.scale_every) * p.scale_every)

    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = self.similarity(y)
        dot = self.p.alpha_s * u @ bank.T
        pair = F.softplus(-dot.abs()) + dot.clamp(min=0) - s * dot
        n_pos, n_neg = s.sum(), (1 - s).sum()
        total = n_pos + n_neg
        weight = torch.where(s > 0, total / n_pos.clamp(min=1), total / n_neg.clamp(min=1))
        return (pair * weight).sum() / total


class HashNet(ImageMethod):
    """HashNet weighted pairwise loss (Cao et al., ICCV 2017), alpha=0.1.

    Example:
        >>> HashNet().hash_params()
        {'alpha_s': 0.1, 'scale_step': 0.005, 'scale_every': 200}
    """

    name = "hashnet"
    version = 1
    Params = Params
    citation = Citation(key="Cao2017HashNet", title="HashNet: Deep Learning to Hash by "
                        "Continuation", url="https://arxiv.org/abs/1702.00758")

    def loss(self, train_labels, bits, generator):
        return HashNetLoss(train_labels, bits, generator, self.params)
