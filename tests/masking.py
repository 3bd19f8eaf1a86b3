"""A model that masks its gradients, for tests of attacks that must see through it."""

import torch
from torch import nn


class HardSign(nn.Module):
    """A gradient-masking "defense": the model's outputs pass through a hard sign.

    Its codes, and so its retrieval, are exactly the base model's, but d sign / dz = 0: every
    white-box attack sees a zero gradient and cannot move the codes. A robust number measured
    with gradients alone would call this model perfectly robust."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def forward(self, x, alpha=1.0):
        return torch.sign(self.base(x, alpha=alpha))

    @torch.no_grad()
    def encode(self, x):
        return torch.where(self(x) >= 0, 1.0, -1.0)
