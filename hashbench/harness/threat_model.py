"""The harness's check of every adversarial batch, whatever attack produced it, and of what an
attack may declare it reads for the access it claims."""

from __future__ import annotations

import torch

from hashbench.api import Need
from hashbench.errors import ThreatModelError

TOLERANCE = 1e-6
# a ranking-only attack reads the ranked ids and what it knows of its own queries
RANKING_NEEDS = frozenset({Need.QUERY_LABELS, Need.TARGET_LABELS})
# what only the attacked model gives: a black-box attack (transfer) may not read it
MODEL_DERIVED = frozenset({Need.DATABASE_CODES, Need.TRAIN_CODES})


def access_violation(attack_cls) -> str | None:
    """Why ``attack_cls`` declares more than its access allows, or None: a ranking-only
    attack only ``RANKING_NEEDS``; a black-box one nothing derived from the attacked model."""
    needs = frozenset(getattr(attack_cls, "needs", frozenset()))
    if getattr(attack_cls, "access", "white-box") == "ranking" and needs - RANKING_NEEDS:
        extra = needs - RANKING_NEEDS
        return (f"is ranking-only but declares {', '.join(sorted(n.value for n in extra))}: a "
                "ranking-only attack gets the ranked ids and its queries' labels, nothing of "
                "the model, its codes or the database's labels")
    if getattr(attack_cls, "blackbox", False) and needs & MODEL_DERIVED:
        extra = needs & MODEL_DERIVED
        return (f"says it is black-box but declares {', '.join(sorted(n.value for n in extra))},"
                " which only the attacked model gives")
    return None


def check_adversarial(x: torch.Tensor, x_adv: torch.Tensor, eps: float, source: str) -> float:
    """Raise unless x_adv is finite, in [0,1], shaped like x and within eps; return max |delta|."""
    if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
        shape = tuple(x_adv.shape) if isinstance(x_adv, torch.Tensor) else type(x_adv).__name__
        raise ThreatModelError(f"{source} returned {shape}, expected a tensor of {tuple(x.shape)}")
    if not torch.isfinite(x_adv).all():
        raise ThreatModelError(f"{source} returned non-finite pixels (NaN or inf)")
    lo, hi = float(x_adv.min()), float(x_adv.max())
    if lo < 0.0 or hi > 1.0:
        raise ThreatModelError(f"{source} left [0,1]: pixel range [{lo:.6g}, {hi:.6g}]")
    linf = float((x_adv - x).abs().max()) if x.numel() else 0.0
    if linf > eps + TOLERANCE:
        raise ThreatModelError(
            f"{source} exceeded the l-inf budget: ||x'-x||_inf = {linf:.6g} > eps = {eps:.6g}"
        )
    return linf


def check_text_adversarial(t: torch.Tensor, t_adv: torch.Tensor, flips: int, source: str) -> int:
    """Raise unless t_adv is a {0,1} tag matrix shaped like t with at most ``flips`` changed tags
    per query; return the largest number of changed tags."""
    if not isinstance(t_adv, torch.Tensor) or t_adv.shape != t.shape:
        shape = tuple(t_adv.shape) if isinstance(t_adv, torch.Tensor) else type(t_adv).__name__
        raise ThreatModelError(f"{source} returned {shape}, expected a tensor of {tuple(t.shape)}")
    if not ((t_adv == 0) | (t_adv == 1)).all():
        raise ThreatModelError(f"{source} returned tags other than 0 and 1 (a text query must "
                               "stay a bag-of-words vector)")
    changed = int((t_adv != t).sum(1).max()) if t.numel() else 0
    if changed > flips:
        raise ThreatModelError(
            f"{source} exceeded the text budget: {changed} tags flipped > flips = {flips}")
    return changed
