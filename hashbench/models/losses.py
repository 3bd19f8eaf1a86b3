"""The base of image hashing losses: a memory bank of the latest training outputs (methods.md
section 3). The losses themselves are plugins (``methods/dpsh.py``, ``dph.py``, ``hashnet.py``,
``csq.py``: the ``hashbench.methods`` entry points with ``modality = "image"``);
``registry.make_loss`` builds one by name, so adding a loss is one file and one entry point.
"""

from __future__ import annotations

from typing import ClassVar

import torch


class HashLoss:
    """Base: holds the memory bank ``U`` (N, K) of outputs and ``Y`` (N, C) of labels."""

    name: ClassVar[str]

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
