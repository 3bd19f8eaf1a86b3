"""Transfer: adversarial queries made on the undefended model, scored on the defended one.

A black-box check in AutoAttack's sense (Croce & Hein 2020; Athalye et al., "Obfuscated
gradients give a false sense of security", ICML 2018, section 6): if queries crafted with
white-box access to the vanilla model of the same configuration hurt a defense more than the
white-box attacks on the defense itself, the defense's own gradients are not guiding those
attacks, and its robust number is not to be trusted. The source queries come from a registered
white-box attack (``source``, default ``apgd_hash``) run on the source model with that model's
own codes; they are memoised on the source model, so every defense of one configuration meets
the very same transferred queries and they are computed once per run. On the source model itself
(the vanilla row) the queries are left clean: there a transfer would be white-box (version 2;
version 1 attacked the vanilla model white-box).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import LinfParams, iterations, transferred_queries


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(100, "the source attack's iterations")
    source: str = field(default="apgd_hash",
                        metadata={"help": "registered white-box attack run on the source model"})


class Transfer(Attack):
    """Untargeted, black-box on the target: queries attacked on the vanilla model of the same
    configuration (by ``source``), scored on the model under test.

    Paper: Athalye et al., Obfuscated Gradients Give a False Sense of Security, ICML 2018
    (transfer as a masking check); Croce & Hein, ICML 2020.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted; no access to the tested model.
    Needs: the source model (the harness's vanilla checkpoint of the cell's configuration) and
    query labels (for the source attack).
    Defaults: source apgd_hash with 100 iterations per loss.

    Example:
        >>> Transfer(eps=0.3).params.source
        'apgd_hash'
    """

    name = "transfer"
    version = 2
    targeted = False
    blackbox = True
    needs = frozenset({Need.SOURCE_MODEL, Need.QUERY_LABELS})
    Params = Params
    citation = Citation(
        key="Athalye2018Obfuscated",
        title="Obfuscated Gradients Give a False Sense of Security: Circumventing Defenses to "
              "Adversarial Examples",
        url="https://arxiv.org/abs/1802.00420",
    )

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        src = ctx.source_model
        # on the source model itself a transfer is a white-box attack: the queries stay clean
        # (as hash_aa skips the stage there), so a black-box worst case holding it stays black
        if src is None or src.model is model or p.eps <= 0:
            return x.detach().clone()
        return transferred_queries(src, ctx, p.source, p.eps, p.steps, x, batch, "transfer")
