"""Defenses of image-text hashing models: the method's own training, and cross-modal
adversarial training that aligns adversarial image *and* text queries with center codes of the
common Hamming space.

``cm_cgat`` is CgAT (Wang et al., WWW 2023) carried to both modalities, which is also the robust
multimodal training of adversarially robust deep-hashing multimodal retrieval: per minibatch,
center codes c(y) from the banks of both modalities' train codes; an inner image attack
(the registry's ``center_pgd``) on the image network and an inner text attack (``text_flip``,
the protocol's flip budget) on the text network push the pair away from c(y); the loss is the
method's objective on the clean pair minus the agreement of both adversarial codes with c(y).
``cm_saat`` is SAAT's variant: mainstay codes and a quantisation term on the adversarial codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from hashbench.defenses._guided import (
    CGAT_CITATION,
    SAAT_CITATION,
    GuidedATParams,
    MainstayATParams,
)

from hashbench.api import Citation, Defense, Need, QueryBatch
from hashbench.kit.codes import center_codes, mainstay_codes
from hashbench.kit.defense_kit import TrainingParams
from hashbench.kit.training import encode_split, encode_texts
from hashbench.metrics import binarize


@dataclass(frozen=True)
class VanillaParams(TrainingParams):
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = field(default=1e-4, metadata={"min": 0.0})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})


class CrossModalVanilla(Defense):
    """No defense: train the image-text model with its method's objective on clean pairs.

    Paper: the method's own (DCMH, SSAH, RMSH; see ``hashbench list``).
    Threat model: none (the baseline of the cross-modal defenses).
    Needs: train labels and texts (the harness gives the method's objective).
    Defaults: Adam 1e-4, 100 epochs, batch 64 (the cross-modal papers train with Adam or SGD at
    rates of 1e-4 to 1e-2; the embedded suite uses a CPU-sized recipe).

    Example:
        >>> CrossModalVanilla(epochs=5).params.epochs
        5
    """

    name = "cm_vanilla"
    version = 1
    modality = "image-text"
    starts_from = "scratch"
    uses_eps = False  # trains without adversarial examples
    needs = frozenset({Need.TRAIN_LABELS})
    Params = VanillaParams
    citation = Citation(key="Jiang2017Deep", title="Deep Cross-Modal Hashing",
                        url="https://arxiv.org/abs/1602.02255")

    def fit(self, model, split, ctx):
        objective = ctx.make_objective(model)
        return ctx.fit(model, split, lambda batch, t: objective(model, batch, t),
                       self.params.train_config(),
                       params=[*model.parameters(), *objective.parameters()])


@dataclass(frozen=True)
class AdvParams(GuidedATParams):
    """CgAT's parameters (``adv_weight`` weighs the image alignment) and the text side's."""

    text_weight: float = field(default=1.0, metadata={"min": 0.0, "help": "weight of the text "
                               "terms (alignment and likelihood); 0 skips the inner text attack"})
    pair_weight: float = field(default=1.0, metadata={"min": 0.0, "help": "weight of the "
                               "adversarial image codes' likelihood against the text codes"})
    quant_weight: float = field(default=0.0, metadata={"min": 0.0, "help": "SAAT's mu"})
    inner_text_attack: str = field(default="text_flip", metadata={"help": "text attack"})
    inner_text_params: dict = field(default_factory=dict, metadata={
        "help": "the inner text attack's own parameters, applied last"})


class CrossModalCgAT(Defense):
    """Cross-modal center-guided adversarial training (fine-tunes ``cm_vanilla``).

    Paper: Wang et al., CgAT, WWW 2023, carried to image and text queries in the common
    Hamming space (adversarially robust multimodal hashing).
    Threat model: images at the protocol's eps (inner attack: 7 sign steps of eps/4, random
    start); texts at the protocol's flip budget (inner greedy flips).
    Needs: train labels and texts.
    Defaults: CgAT's recipe (SGD 0.01, momentum 0.9, wd 5e-4, 30 epochs, batch 32), weights 1:1:1.

    Example:
        >>> CrossModalCgAT(epochs=5).params.text_weight
        1.0
    """

    name = "cm_cgat"
    version = 1
    modality = "image-text"
    starts_from = "cm_vanilla"
    needs = frozenset({Need.TRAIN_LABELS})
    Params = AdvParams
    citation = CGAT_CITATION
    code_kind = "center"

    def reference_codes(self, labels, bank, bank_labels):
        return center_codes(labels, bank, bank_labels)

    def fit(self, model, split, ctx):
        p = self.params
        objective = ctx.make_objective(model)
        image_attack = ctx.inner_attack(p.inner_attack, p.inner_params, eps=ctx.eps,
                                        steps=p.steps, step=p.step_frac * ctx.eps,
                                        random_start=True, loss="mean", schedule="constant",
                                        code=self.code_kind)
        text_attack = ctx.inner_attack(p.inner_text_attack, p.inner_text_params,
                                       flips=ctx.text_flips, code=self.code_kind)
        device = next(model.parameters()).device
        n = len(split)
        # one bank of both modalities' codes: the common Hamming space the centers live in
        bank = torch.cat([encode_split(model.image, split), encode_texts(model.text, split.texts)])
        split_labels = split.labels.to(device)
        labels = split_labels.repeat(2, 1)

        def step(batch, t):
            data = {"train_codes": bank, "train_labels": labels}
            query = QueryBatch(index=batch.idx, labels=batch.y)
            x_adv = image_attack.perturb(model.image, batch.x, query, None,
                                         ctx.attack_context(image_attack, f"inner/{t}", **data))
            t_adv = None if not p.text_weight else text_attack.perturb(
                model.text, batch.text, query, None,
                ctx.attack_context(text_attack, f"inner-text/{t}", **data))
            loss = objective(model, batch, t)
            with torch.no_grad():
                bank[batch.idx] = binarize(model.image(batch.x))
                bank[batch.idx + n] = binarize(model.text(batch.text))
            ref = self.reference_codes(batch.y, bank, labels)
            s = (batch.y @ split_labels.T > 0).to(loss.dtype)
            u_adv = model.image(x_adv)
            loss = loss - p.adv_weight * (u_adv * ref).mean() \
                + p.pair_weight * _pair_nll(0.5 * u_adv @ bank[n:].T, s)
            adv = [u_adv]
            if t_adv is not None:
                v_adv = model.text(t_adv)
                loss = loss + p.text_weight * (_pair_nll(0.5 * v_adv @ bank[:n].T, s)
                                               - (v_adv * ref).mean())
                adv.append(v_adv)
            if p.quant_weight:
                loss = loss + p.quant_weight * sum(
                    (o - binarize(o.detach())).pow(2).mean() for o in adv)
            return loss

        return ctx.fit(model, split, step, p.train_config(),
                       params=[*model.parameters(), *objective.parameters()])


def _pair_nll(theta: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of label similarities s under sigma(theta)."""
    return (torch.nn.functional.softplus(theta) - s * theta).mean()


@dataclass(frozen=True)
class SAATParams(MainstayATParams, AdvParams):
    """SAAT's defaults (lr 0.05, no momentum, wd 1e-5, 20 epochs, mu 1e-4) and the text side's."""


class CrossModalSAAT(CrossModalCgAT):
    """Cross-modal semantic-aware adversarial training: mainstay codes (fine-tunes
    ``cm_vanilla``).

    Paper: Yuan et al., SAAT, IEEE TIFS 2023, carried to image and text queries.
    Threat model and needs as ``cm_cgat``.
    Defaults: SAAT's recipe (SGD 0.05, no momentum, wd 1e-5, 20 epochs, batch 32, mu = 1e-4).

    Example:
        >>> CrossModalSAAT().params.quant_weight
        0.0001
    """

    name = "cm_saat"
    Params = SAATParams
    citation = SAAT_CITATION
    code_kind = "mainstay"

    def reference_codes(self, labels, bank, bank_labels):
        return mainstay_codes(labels, bank, bank_labels)
