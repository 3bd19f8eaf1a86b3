"""Prototype networks: a label vector in, the code of that label out (relaxed, K bits).

ATRDH trains one beside the hashing model and attacks toward its codes (Wang et al., SIGIR
2021); THA fits one to an attacked model's train codes and pulls queries onto it; ProS-GAN
conditions its generator on one (Wang et al., CVPR 2021). The loss is the official circle-style
loss (positives: codes sharing a label with the target; every pair counted, not only the upper
triangle) plus a small quantisation term.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hashbench.metrics import binarize


class PrototypeNet(nn.Module):
    """Label vector -> relaxed code: Linear(C, H), ReLU, Linear(H, 512), Linear(512, K), tanh."""

    def __init__(self, n_classes: int, bits: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_classes, hidden), nn.ReLU(), nn.Linear(hidden, 512),
                                 nn.Linear(512, bits), nn.Tanh())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def prototype_loss(p: torch.Tensor, targets: torch.Tensor, bank: torch.Tensor,
                   bank_labels: torch.Tensor) -> torch.Tensor:
    """Circle-style loss: prototypes near codes sharing a label, far from the others."""
    s = p @ bank.T / p.shape[1]
    pos = (targets @ bank_labels.T) > 0
    a_p, a_n = (2 - s).clamp(min=0), (s + 2).clamp(min=0)
    neg_inf = torch.finfo(s.dtype).min
    logit_n = torch.where(pos, neg_inf, a_n * s)
    logit_p = torch.where(pos, -a_p * s, neg_inf)
    circle = F.softplus(torch.logsumexp(logit_n, 1) + torch.logsumexp(logit_p, 1))
    reg = (binarize(p.detach()) - p).pow(2).sum() / (1e4 * p.shape[0])
    return circle.mean() + reg


def fit_prototypes(proto: PrototypeNet, candidates: torch.Tensor, bank: torch.Tensor,
                   bank_labels: torch.Tensor, steps: int, batch_size: int, lr: float,
                   generator: torch.Generator) -> PrototypeNet:
    """Fit ``proto`` to a fixed code bank (an attacked model's train codes): ``steps`` Adam steps
    (betas 0.5, 0.999 and lr x0.1 at 50% and 75%, as THA's attack.py) on target label vectors
    drawn from ``candidates`` with ``generator``."""
    device = bank.device
    opt = torch.optim.Adam(proto.parameters(), lr=lr, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [steps // 2, steps * 3 // 4], 0.1)
    bank, bank_labels = binarize(bank.to(torch.float32)), bank_labels.to(torch.float32)
    proto.train()
    for _ in range(steps):
        pick = torch.randint(0, len(candidates), (batch_size,), generator=generator)
        targets = candidates[pick.to(candidates.device)].to(device, torch.float32)
        opt.zero_grad(set_to_none=True)
        prototype_loss(proto(targets), targets, bank, bank_labels).backward()
        opt.step()
        sched.step()
    return proto.eval()


def label_candidates(labels: torch.Tensor) -> torch.Tensor:
    """The distinct non-empty label vectors of ``labels``: the targets a prototype learns."""
    unique = torch.unique(labels, dim=0)
    return unique[unique.sum(1) > 0]


def new_prototype_net(n_classes: int, bits: int, hidden: int,
                      generator: torch.Generator) -> PrototypeNet:
    """A freshly initialised PrototypeNet whose weights depend only on ``generator`` (torch's
    initialisers draw from the global RNG, so they run on a forked, seeded copy of it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
        return PrototypeNet(n_classes, bits, hidden)


class PrototypeTargets:
    """A fitted PrototypeNet as the target codes of label vectors (zero for an empty label)."""

    def __init__(self, proto: torch.nn.Module):
        self.proto = proto

    @torch.no_grad()
    def codes(self, targets: torch.Tensor) -> torch.Tensor:
        t = targets.to(next(self.proto.parameters()).device, torch.float32)
        return binarize(self.proto(t)) * targets.any(dim=1, keepdim=True).to(t.dtype)


def fitted_prototypes(attack, ctx, tag: str = "prototypes") -> PrototypeTargets:
    """An attack's PrototypeNet for the attacked model (THA, ProS-GAN): fitted to its train
    codes, with targets drawn from the database's distinct labels, once per model
    (``ctx.cached``); the attack's params give ``proto_hidden``, ``proto_steps``,
    ``batch_size`` and ``proto_lr``."""
    p = attack.params
    bank = ctx.train_codes
    device = bank.device
    n_classes = ctx.train_labels.shape[1]
    net = new_prototype_net(n_classes, bank.shape[1], p.proto_hidden,
                            ctx.rng(f"{tag}/init")).to(device)
    candidates = label_candidates(ctx.database_labels).to(device)
    proto = ctx.cached(attack, tag, net, lambda m: fit_prototypes(
        m, candidates, bank, ctx.train_labels.to(device), p.proto_steps, p.batch_size,
        p.proto_lr, ctx.rng(f"{tag}/fit")))
    return PrototypeTargets(proto)
