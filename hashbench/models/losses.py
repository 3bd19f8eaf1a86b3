"""Hashing losses with a memory bank of the latest training outputs (methods.md section 3).

Hyper-parameters are pinned per method (P11) and recorded in every result through
``HashLoss.params``:

* DPSH: mean likelihood + ``eta * mean((u - sign u)^2)``, eta = 1e-3 (CgAT; DeepHash-pytorch's
  0.1 collapses a small CNN from scratch to one code).
* DPH: ``mean((u.U / K - s~)^2)`` with s~ in {-1,+1} (SAAT / CgAT).
* HashNet: weighted pairwise logistic loss on ``alpha_s * u.U``, alpha_s = 0.1 (CgAT /
  DeepHash-pytorch), with the tanh-scale continuation (1 + 0.005 step)^0.5 every 200 steps.
* CSQ: BCE to hash centers + ``lambda * mean((|u| - 1)^2)``, lambda = 1e-4; Hadamard centers
  when a Sylvester matrix fits, Bernoulli centers otherwise (P9).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.nn import functional as F

from hashbench.metrics import binarize


class HashLoss:
    """Base: holds the memory bank ``U`` (N, K) of outputs and ``Y`` (N, C) of labels."""

    name: ClassVar[str]
    params: ClassVar[dict] = {}

    def __init__(self, train_labels: torch.Tensor, bits: int, generator: torch.Generator):
        self.labels = train_labels.to(torch.float32)
        self.bits = bits
        self.bank = torch.zeros(train_labels.shape[0], bits)

    def to(self, device) -> HashLoss:
        self.labels = self.labels.to(device)
        self.bank = self.bank.to(device)
        return self

    def update_bank(self, u: torch.Tensor, idx: torch.Tensor, update: bool = True) -> torch.Tensor:
        """Write the batch's outputs into the bank (detached, as every reference does).

        ``update=False`` scores outputs against the bank without writing them: adversarial
        terms of ATRDH compare f(x') with the bank of *benign* outputs.
        """
        if update:
            self.bank[idx] = u.detach().to(self.bank.dtype)
        return self.bank

    def similarity(self, y: torch.Tensor) -> torch.Tensor:
        return (y.to(torch.float32) @ self.labels.T > 0).to(torch.float32)

    def train_alpha(self, step: int) -> float:
        """tanh scale used in the forward pass during training."""
        return 1.0

    def __call__(self, u: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
                 update: bool = True) -> torch.Tensor:
        raise NotImplementedError


class DPSHLoss(HashLoss):
    name = "dpsh"
    params = {"eta": 1e-3}

    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = self.similarity(y)
        theta = 0.5 * u @ bank.T
        likelihood = F.softplus(-theta.abs()) + theta.clamp(min=0) - s * theta
        quant = (u - binarize(u.detach())).pow(2).mean()
        return likelihood.mean() + self.params["eta"] * quant


class DPHLoss(HashLoss):
    name = "dph"
    params = {}

    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = 2 * self.similarity(y) - 1
        return ((u @ bank.T) / self.bits - s).pow(2).mean()


class HashNetLoss(HashLoss):
    name = "hashnet"
    params = {"alpha_s": 0.1, "scale_step": 0.005, "scale_every": 200}

    def train_alpha(self, step: int) -> float:
        p = self.params
        return math.sqrt(1 + p["scale_step"] * (step // p["scale_every"]) * p["scale_every"])

    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = self.similarity(y)
        dot = self.params["alpha_s"] * u @ bank.T
        pair = F.softplus(-dot.abs()) + dot.clamp(min=0) - s * dot
        n_pos, n_neg = s.sum(), (1 - s).sum()
        total = n_pos + n_neg
        weight = torch.where(s > 0, total / n_pos.clamp(min=1), total / n_neg.clamp(min=1))
        return (pair * weight).sum() / total


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
    params = {"lambda": 1e-4}

    def __init__(self, train_labels, bits, generator):
        super().__init__(train_labels, bits, generator)
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
        return bce + self.params["lambda"] * quant


HASH_METHODS: dict[str, type[HashLoss]] = {
    cls.name: cls for cls in (DPSHLoss, DPHLoss, HashNetLoss, CSQLoss)
}
HASH_METHOD_INFO = {
    "dpsh": "DPSH pairwise likelihood (Li et al., IJCAI 2016), eta=1e-3",
    "dph": "DPH pairwise squared inner product (the HAG / SAAT victim)",
    "hashnet": "HashNet weighted pairwise loss (Cao et al., ICCV 2017), alpha=0.1",
    "csq": "CSQ central similarity (Yuan et al., CVPR 2020), lambda=1e-4",
}


def make_loss(method: str, train_labels: torch.Tensor, bits: int,
              generator: torch.Generator) -> HashLoss:
    if method not in HASH_METHODS:
        from hashbench.errors import ConfigError
        from hashbench.registry import close_matches

        raise ConfigError(f"unknown hashing method '{method}'{close_matches(method, HASH_METHODS)}")
    return HASH_METHODS[method](train_labels, bits, generator)
