"""Pieces the image-text methods share: label similarity, the pairwise likelihood and the banks
of both modalities' latest training outputs."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from hashbench.kit.optim import eval_mode


def share_label(y: torch.Tensor, bank_labels: torch.Tensor) -> torch.Tensor:
    """S_ij = 1 when item i and bank item j share a label."""
    return (y.to(torch.float32) @ bank_labels.T > 0).to(torch.float32)


def pair_nll(theta: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of pairwise similarities under sigma(theta) (DCMH, SSAH)."""
    return (F.softplus(theta) - s * theta).mean()


@torch.no_grad()
def relaxed_outputs(model, split, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """tanh outputs of every train item through both networks, in eval mode: the banks a
    training run starts from (so early batches pair with real codes, not zeros)."""
    device = next(model.parameters()).device
    f, g = [], []
    with eval_mode(model):
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)))
            f.append(model.image(split.images(idx).to(device)))
            g.append(model.text(split.texts[idx].to(device)))
    return torch.cat(f), torch.cat(g)
