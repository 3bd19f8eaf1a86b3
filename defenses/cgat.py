"""CgAT: adversarial training that pulls adversarial codes back onto their class center codes.

Wang, Lin, Li, "CgAT: Center-Guided Adversarial Training for Deep Hashing-Based Retrieval", WWW
2023 (xunguangwang/CgAT central_adv_train.py). Per minibatch: center codes from the train-code
bank; inner center-guided PGD (the registry's ``center_pgd`` with the mean loss) maximises the
Hamming distance to them; the outer loss is the hashing loss on clean x minus the mean agreement
of f(x') with the recomputed center codes. Divergence (methods.md P6): the bank starts from codes
computed in eval mode without augmentation, and the inner attack runs in eval mode. The loop is
the family's ``GuidedAdversarialTraining`` (defenses/_guided.py), which SAAT varies too.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashbench.defenses._guided import CGAT_CITATION, GuidedAdversarialTraining, GuidedATParams

from hashbench.kit.codes import center_codes


@dataclass(frozen=True)
class Params(GuidedATParams):
    """CgAT's central_adv_train.py defaults (the kit's guided-training defaults are CgAT's)."""


class CgAT(GuidedAdversarialTraining):
    """Center-guided adversarial training (fine-tunes the vanilla model).

    Paper: Wang et al., CgAT: Center-Guided Adversarial Training for Deep Hashing-Based
    Retrieval, WWW 2023, https://arxiv.org/abs/2204.10779.
    Threat model: l-inf at the protocol's eps (inner attack: 7 sign steps of eps/4, random start).
    Needs: train labels (the harness gives the hashing loss and the train split).
    Defaults: CgAT's central_adv_train.py: SGD lr 0.01, momentum 0.9, wd 5e-4, 30 epochs, batch 32,
    lr x0.1 at 50% and 75% of the steps, loss weights 1:1.

    Example:
        >>> CgAT(epochs=5).params.steps
        7
    """

    name = "cgat"
    version = 1
    Params = Params
    citation = CGAT_CITATION
    code_kind = "center"

    def reference_codes(self, labels, bank, bank_labels):
        return center_codes(labels, bank, bank_labels)
