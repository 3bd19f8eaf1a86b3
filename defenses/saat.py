"""SAAT: adversarial training against mainstay codes, with a quantisation term on f(x').

Yuan, Zhang, Wang, Wu, "Semantic-Aware Adversarial Training for Reliable Deep Hashing
Retrieval", IEEE TIFS 2023 (xandery-geek/SAAT adv_training.py). The mainstay code weights
positive train codes by label cosine similarity and is recomputed from the code bank every step;
the inner attack is the registry's ``center_pgd`` with ``code="mainstay"``. Loss:
L_hash(x) - lambda * mean(f(x') m) + mu * mean((f(x') - sign f(x'))^2). Same P6 divergence as
CgAT (eval-mode bank and inner attack); the same loop (the family's
``GuidedAdversarialTraining``, defenses/_guided.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hashbench.defenses._guided import SAAT_CITATION, GuidedAdversarialTraining, MainstayATParams

from hashbench.kit.codes import mainstay_codes
from hashbench.metrics import binarize


@dataclass(frozen=True)
class Params(MainstayATParams):
    """SAAT's adv_training.py defaults (the kit's mainstay-training defaults are SAAT's)."""


class SAAT(GuidedAdversarialTraining):
    """Semantic-aware adversarial training with mainstay codes (fine-tunes the vanilla model).

    Paper: Yuan et al., Semantic-Aware Adversarial Training for Reliable Deep Hashing Retrieval,
    IEEE TIFS 2023, https://arxiv.org/abs/2310.14637.
    Threat model: l-inf at the protocol's eps (inner attack: 7 sign steps of eps/4, random start).
    Needs: train labels.
    Defaults: SAAT's adv_training.py: SGD lr 0.05, no momentum, wd 1e-5, 20 epochs, batch 32,
    lr x0.1 at 50% and 75%, lambda = 1, mu = 1e-4.

    Example:
        >>> SAAT(epochs=5).params.quant_weight
        0.0001
    """

    name = "saat"
    version = 1
    Params = Params
    citation = SAAT_CITATION
    code_kind = "mainstay"

    def reference_codes(self, labels, bank, bank_labels):
        return mainstay_codes(labels, bank, bank_labels)

    def extra_loss(self, u_adv: torch.Tensor) -> torch.Tensor:
        return self.params.quant_weight * (u_adv - binarize(u_adv.detach())).pow(2).mean()
