"""DPSH: deep pairwise-supervised hashing, the image hashing loss of the standard suites.

Paper: Li, Wang and Kang, Feature Learning based Deep Supervised Hashing with Pairwise Labels,
IJCAI 2016, https://arxiv.org/abs/1511.03855. The pairwise likelihood of the similarity
s_ij = 1[y_i.y_j > 0] given theta_ij = u_i.U_j / 2 against the bank U of the latest outputs, plus
``eta * mean((u - sign u)^2)``; eta = 1e-3 (CgAT's; DeepHash-pytorch's 0.1 collapses a small CNN
trained from scratch to one code).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch.nn import functional as F

from hashbench.api import Citation, HashLoss, ImageMethod
from hashbench.metrics import binarize


@dataclass(frozen=True)
class Params:
    eta: float = field(default=1e-3, metadata={"min": 0.0, "help": "quantisation weight"})


class DPSHLoss(HashLoss):
    name = "dpsh"

    def __init__(self, train_labels, bits, generator, eta: float):
        super().__init__(train_labels, bits, generator)
        self.eta = eta

    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = self.similarity(y)
        theta = 0.5 * u @ bank.T
        likelihood = F.softplus(-theta.abs()) + theta.clamp(min=0) - s * theta
        quant = (u - binarize(u.detach())).pow(2).mean()
        return likelihood.mean() + self.eta * quant


class DPSH(ImageMethod):
    """DPSH pairwise likelihood (Li et al., IJCAI 2016), eta=1e-3.

    Example:
        >>> DPSH().hash_params()
        {'eta': 0.001}
    """

    name = "dpsh"
    version = 1
    Params = Params
    citation = Citation(key="Li2016DPSH", title="Feature Learning based Deep Supervised Hashing "
                        "with Pairwise Labels", url="https://arxiv.org/abs/1511.03855")

    def loss(self, train_labels, bits, generator):
        return DPSHLoss(train_labels, bits, generator, self.params.eta)
