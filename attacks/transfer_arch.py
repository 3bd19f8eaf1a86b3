"""Cross-architecture transfer: adversarial queries made white-box on a surrogate of another
backbone and hashing method, scored on the model under test.

The setting of NAG (Xiao et al., "You See What I Want You to See: Exploring Targeted
Black-Box Transferability Attack for Hash-based Image Retrieval Systems", CVPR 2021;
SugarRuy/CVPR21_Transferred_Hash): the attacker owns a model
of its own, trained on the same data but with another architecture and loss, and never touches
the target. The harness trains the surrogate (an undefended model of ``surrogate_backbone`` and
``surrogate_method`` with the cell's bits, data and seed, under the suite's vanilla recipe) and
caches it like any model; a registered white-box attack (``source``) runs on it with the
surrogate's own codes, and the queries are memoised on it, so every defense of one
configuration meets the same transferred queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import LinfParams, iterations, transferred_queries


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(100, "the source attack's iterations")
    source: str = field(default="apgd_hash",
                        metadata={"help": "registered white-box attack run on the surrogate"})
    surrogate_backbone: str = field(default="small_mlp",
                                    metadata={"help": "the surrogate's backbone"})
    surrogate_method: str = field(default="dph",
                                  metadata={"help": "the surrogate's hashing method"})


class TransferArch(Attack):
    """Untargeted, black-box on the target: queries attacked on a surrogate of another
    architecture and hashing method, scored on the model under test.

    Paper: the transfer setting of Xiao et al., You See What I Want You to See: Exploring
    Targeted Black-Box Transferability Attack for Hash-based Image Retrieval Systems, CVPR 2021
    (NAG); Papernot et al., Transferability in Machine Learning, 2016.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted; no access to the tested model,
    only to the training data.
    Needs: a surrogate model (trained and cached by the harness) and query labels.
    Defaults: a small MLP trained with DPH (the standard suites' model is a CNN trained with
    DPSH), attacked by apgd_hash with 100 iterations per loss; the literature suite uses a
    ResNet-18 surrogate for its AlexNet and VGG-11 targets.

    Example:
        >>> TransferArch(eps=0.3).params.surrogate_method
        'dph'
    """

    name = "transfer_arch"
    version = 1
    targeted = False
    blackbox = True
    needs = frozenset({Need.SURROGATE_MODEL, Need.QUERY_LABELS})
    Params = Params
    citation = Citation(
        key="Papernot2016Transferability",
        title="Transferability in Machine Learning: from Phenomena to Black-Box Attacks using "
              "Adversarial Samples",
        url="https://arxiv.org/abs/1605.07277",
    )

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        if p.eps <= 0:
            return x.detach().clone()
        src = ctx.surrogate_model(p.surrogate_backbone, p.surrogate_method)
        return transferred_queries(src, ctx, p.source, p.eps, p.steps, x, batch, "transfer_arch")
