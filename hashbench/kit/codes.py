"""Reference codes built from a bank of (code, label) pairs: center, mainstay and anchor codes.

These are shared by attacks (center-guided PGD, targeted PGD) and defenses (CgAT, SAAT), so they
live once here. Every ``sign`` breaks ties to +1 (P3): a center of an even number of codes can tie.
"""

from __future__ import annotations

import torch

from hashbench.errors import ConfigError
from hashbench.metrics import binarize


def _label_overlap(labels: torch.Tensor, bank_labels: torch.Tensor) -> torch.Tensor:
    return labels.to(torch.float32) @ bank_labels.to(torch.float32).T


def center_codes(
    labels: torch.Tensor, bank_codes: torch.Tensor, bank_labels: torch.Tensor
) -> torch.Tensor:
    """CgAT's center code for each label vector (methods.md 4.3).

    ``c(y) = sign(mean of positive codes - mean of negative codes)``: positives share a label with
    ``y``, negatives share none. A zero-label item shares no label with anything, so it is a
    negative of every query and a zero-label query has no positives (P10: no NaN, unlike the
    official Jaccard form). An empty set contributes 0.
    """
    pos = (_label_overlap(labels, bank_labels) > 0).to(torch.float32)
    neg = 1.0 - pos
    codes = bank_codes.to(torch.float32)
    pos_mean = (pos @ codes) / pos.sum(1, keepdim=True).clamp(min=1)
    neg_mean = (neg @ codes) / neg.sum(1, keepdim=True).clamp(min=1)
    return binarize(pos_mean - neg_mean)


def mainstay_codes(
    labels: torch.Tensor, bank_codes: torch.Tensor, bank_labels: torch.Tensor
) -> torch.Tensor:
    """SAAT's mainstay code: positives weighted by label cosine similarity, negatives uniform."""
    y = labels.to(torch.float32)
    yb = bank_labels.to(torch.float32)
    overlap = y @ yb.T
    norms = y.norm(dim=1, keepdim=True) * yb.norm(dim=1).unsqueeze(0)
    cos = torch.where(overlap > 0, overlap / norms.clamp(min=1e-8), torch.zeros_like(overlap))
    weights = cos / cos.sum(1, keepdim=True).clamp(min=1e-8)
    neg = (overlap <= 0).to(torch.float32)
    codes = bank_codes.to(torch.float32)
    neg_mean = (neg @ codes) / neg.sum(1, keepdim=True).clamp(min=1)
    return binarize(weights @ codes - neg_mean)


def anchor_codes(
    target_labels: torch.Tensor,
    bank_codes: torch.Tensor,
    bank_labels: torch.Tensor,
    n_t: int,
    generators: list[torch.Generator],
) -> torch.Tensor:
    """DHTA anchor: majority vote of ``n_t`` bank codes whose label equals the target exactly.

    Members are drawn without replacement (P8, as DHTA's official code does) with one generator
    per target, so an anchor does not depend on how queries are batched. A target with fewer than
    ``n_t`` exact matches is an error (the protocol only draws targets that have them); an
    all-zero target (a query with no admissible target) gets an all-zero anchor.
    """
    exact = (target_labels.unsqueeze(1) == bank_labels.unsqueeze(0)).all(dim=2)
    anchors = torch.empty(target_labels.shape[0], bank_codes.shape[1])
    for i in range(target_labels.shape[0]):
        if not target_labels[i].any():
            anchors[i] = 0.0
            continue
        members = torch.nonzero(exact[i]).flatten().cpu()
        if members.numel() < n_t:
            raise ConfigError(
                f"target label {target_labels[i].nonzero().flatten().tolist()} has "
                f"{members.numel()} exact matches in the database, fewer than n_t={n_t}; "
                "lower n_t or regenerate the protocol's target labels"
            )
        pick = members[torch.randperm(members.numel(), generator=generators[i])[:n_t]]
        anchors[i] = bank_codes[pick.to(bank_codes.device)].to(torch.float32).sum(0).cpu()
    empty = ~target_labels.any(dim=1).cpu()
    codes = binarize(anchors)
    codes[empty] = 0.0
    return codes.to(bank_codes.device)


def batch_anchors(batch, ctx, n_t: int) -> torch.Tensor:
    """The DHTA anchor of each query's target label over the database codes (``ctx``'s), drawn
    with one generator per query index (so an anchor does not depend on how queries are
    batched): what targeted attacks on image and text queries alike pull a code onto."""
    gens = [ctx.rng(f"anchor/{int(i)}") for i in batch.index]
    return anchor_codes(batch.target_labels, ctx.database_codes, ctx.database_labels, n_t, gens)

