"""Text-query attacks for image-text hashing: flip at most ``flips`` tags of the query.

The text counterparts of the image attacks: ``text_flip`` pushes the text query's code away from
its class's center code of the image side (center-guided, as CgAT's attack does for images) or
from its own clean code (HAG's objective); ``text_flip_targeted`` pulls it onto the DHTA anchor of
a target label among the image database's codes. The search is greedy coordinate flipping guided
by the input gradient (Ebrahimi et al., HotFlip, ACL 2018), with the best candidates evaluated
exactly, so every step keeps the query a valid {0,1} tag vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from hashbench.api import Citation, Need, TextAttack
from hashbench.kit.codes import batch_anchors, center_codes, mainstay_codes
from hashbench.kit.optim import eval_mode, greedy_flips

HOTFLIP = Citation(key="Ebrahimi2018HotFlip",
                   title="HotFlip: White-Box Adversarial Examples for Text Classification",
                   url="https://arxiv.org/abs/1712.06751")


@dataclass(frozen=True)
class FlipParams:
    flips: int = field(default=2, metadata={"min": 0, "help": "tags that may be flipped "
                                            "(the harness sets it from the protocol)"})
    candidates: int = field(default=64, metadata={"min": 1, "help": "flips evaluated exactly "
                                                  "per round (>= the vocabulary: exact greedy)"})


@dataclass(frozen=True)
class Params(FlipParams):
    code: Literal["center", "mainstay", "clean"] = field(
        default="center", metadata={"help": "center (CgAT) or mainstay (SAAT) code of the "
                                            "image side, or its own clean code (HAG)"})


class TextFlip(TextAttack):
    """Untargeted: flip tags so the text query's code leaves its class center (or clean code).

    Paper: the center-guided objective of Wang et al., CgAT (WWW 2023) and HAG's (Yang et al.,
    TCYB 2020), searched with HotFlip's gradient-ranked flips (Ebrahimi et al., ACL 2018).
    Threat model: at most ``flips`` tags changed, result in {0,1}; untargeted (T->I mAP).
    Needs: query labels; train codes and labels of the retrieved (image) side.
    Defaults: 64 exact candidates per round, center code.

    Example:
        >>> TextFlip(flips=2).params.code
        'center'
    """

    name = "text_flip"
    version = 1
    targeted = False
    needs = frozenset({Need.QUERY_LABELS, Need.TRAIN_CODES, Need.TRAIN_LABELS})
    Params = Params
    citation = HOTFLIP

    def perturb(self, model, t, batch, state, ctx):
        p = self.params
        if p.code == "clean":
            with torch.no_grad(), eval_mode(model):
                ref = torch.sign(model(t))
        else:
            build = mainstay_codes if p.code == "mainstay" else center_codes
            ref = build(batch.labels, ctx.train_codes, ctx.train_labels).to(t.device)
        # the mean agreement with the reference code, driven down
        return greedy_flips(model, t, lambda out: (out * ref.unsqueeze(1)).mean(-1), p.flips,
                            p.candidates)


@dataclass(frozen=True)
class TargetedParams(FlipParams):
    n_t: int = field(default=9, metadata={"min": 1, "max": 9, "help": "anchor members"})


class TextFlipTargeted(TextAttack):
    """Targeted: flip tags so the text query retrieves images of the target label.

    Paper: DHTA's anchor code (Bai et al., ECCV 2020) over the image database's codes, searched
    with HotFlip-style flips. Threat model: at most ``flips`` tags changed; targeted (t-mAP).
    Needs: target labels; database codes and labels of the image side.

    Example:
        >>> TextFlipTargeted().params.n_t
        9
    """

    name = "text_flip_targeted"
    version = 1
    targeted = True
    needs = frozenset({Need.TARGET_LABELS, Need.DATABASE_CODES, Need.DATABASE_LABELS})
    Params = TargetedParams
    citation = HOTFLIP

    def perturb(self, model, t, batch, state, ctx):
        p = self.params
        anchor = batch_anchors(batch, ctx, p.n_t).to(t.device)
        return greedy_flips(model, t, lambda out: -(out * anchor.unsqueeze(1)).mean(-1),
                            p.flips, p.candidates)
