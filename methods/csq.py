"""CSQ: central similarity quantization, codes pulled onto per-class hash centers.

Paper: Yuan et al., Central Similarity Quantization for Efficient Image and Video Retrieval,
CVPR 2020, https://arxiv.org/abs/1908.00347. BCE between (u+1)/2 and (c_y+1)/2 plus
``lambda * mean((|u| - 1)^2)``, lambda = 1e-4 (DeepHash-pytorch, CgAT). The centers are rows of
[H_K; -H_K] (Sylvester-Hadamard) when K is a power of 2 and they suffice, Bernoulli codes
otherwise (methods.md P9: 48 bits, or 80 MS-COCO classes at 16/32 bits); a multi-label item's
center is the sign of its labels' sum, ties replaced by a fixed random center.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from hashbench.api import Citation, HashLoss, ImageMethod


@dataclass(frozen=True)
class Params:
    lambda_: float = field(default=1e-4, metadata={"min": 0.0, "help": "quantisation weight "
                                                   "(the paper's lambda)"})


def sylvester_hadamard(n: int) -> torch.Tensor:
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def bernoulli_centers(n: int, bits: int, generator: torch.Generator) -> torch.Tensor:
    """Random +-1 centers, redrawn (at most 20 tries) until pairwise distances look spread."""
    best, best_min = None, -1.0
    for _ in range(20):
        c = torch.where(torch.rand(n, bits, generator=generator) < 0.5, -1.0, 1.0)
        d = (bits - c @ c.T) / 2
        off = d[~torch.eye(n, dtype=torch.bool)]
        if off.numel() == 0 or (off.min() > bits / 4 and off.mean() >= bits / 2):
            return c
        if off.min() > best_min:
            best, best_min = c, float(off.min())
    return best


def hash_centers(n_classes: int, bits: int, generator: torch.Generator) -> torch.Tensor:
    """CSQ centers: rows of H_K (or [H_K; -H_K]) when K is a power of 2 and they suffice."""
    if bits & (bits - 1) == 0 and n_classes <= 2 * bits:
        h = sylvester_hadamard(bits)
        return torch.cat([h, -h])[:n_classes]
    return bernoulli_centers(n_classes, bits, generator)


class CSQLoss(HashLoss):
    name = "csq"

    def __init__(self, train_labels, bits, generator, lam: float):
        super().__init__(train_labels, bits, generator)
        self.lam = lam
        self.centers = hash_centers(train_labels.shape[1], bits, generator)
        # a fixed random center replaces the ties of a multi-label center (DeepHash-pytorch)
        self.tie_center = torch.where(torch.rand(bits, generator=generator) < 0.5, -1.0, 1.0)

    def to(self, device):
        super().to(device)
        self.centers, self.tie_center = self.centers.to(device), self.tie_center.to(device)
        return self

    def target(self, y: torch.Tensor) -> torch.Tensor:
        s = y.to(torch.float32) @ self.centers
        return torch.where(s == 0, self.tie_center.expand_as(s), torch.sign(s))

    def __call__(self, u, y, idx, update=True):
        c = self.target(y)
        bce = F.binary_cross_entropy((u + 1) / 2, (c + 1) / 2)
        quant = (u.abs() - 1).pow(2).mean()
        return bce + self.lam * quant


class CSQ(ImageMethod):
    """CSQ central similarity (Yuan et al., CVPR 2020), lambda=1e-4.

    Example:
        >>> CSQ().hash_params()
        {'lambda': 0.0001}
    """

    name = "csq"
    version = 1
    Params = Params
    citation = Citation(key="Yuan2020CSQ", title="Central Similarity Quantization for Efficient "
                        "Image and Video Retrieval", url="https://arxiv.org/abs/1908.00347")

    def hash_params(self) -> dict:
        return {"lambda": self.params.lambda_}  # the paper's (and every record's) name

    def loss(self, train_labels, bits, generator):
        return CSQLoss(train_labels, bits, generator, self.params.lambda_)
