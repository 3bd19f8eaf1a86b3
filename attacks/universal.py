"""Universal perturbations: one perturbation per attacked model (and per target label), fitted on
the train split, added to every query.

Untargeted (``universal``): the perturbation that, added to any train image, pushes the model's
output away from that image's own clean code (HAG's objective averaged over images), the
hashing analogue of Moosavi-Dezfooli et al.'s universal perturbations (CVPR 2017) as AdvHash
(Hu et al., ACM MM 2021) uses for hashing. Targeted (``universal_targeted``, TUA: "Targeted
Universal Adversarial Attack on Deep Hash Networks", ICMR 2024): one perturbation per
target label, pulling every train image's output onto that label's center code among the
attacked model's train codes (the paper's target code is learnt; here it is the center code,
as center-guided PGD's targeted variant uses).

Fitting: sign-gradient steps on the shared perturbation over minibatches of train images drawn
from the cell's generator, eps/8 for the first half of the steps and eps/32 after, the saat10
tanh schedule, projected onto the eps-ball; each image is clamped to [0,1] after adding it. The
perturbation is fitted once per attacked model and cached with it. It answers how much of the
damage of a per-query attack needs the query at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import LinfParams, iterations
from hashbench.kit.codes import center_codes
from hashbench.kit.optim import Schedule, alpha_at, eval_mode
from hashbench.metrics import binarize


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(500, "fitting steps (one train minibatch each)", most=10**6)
    batch_size: int = field(default=64, metadata={"min": 1, "help": "train images per step"})
    schedule: Schedule = field(default="saat10", metadata={"help": "tanh-scale schedule"})


class Perturbation(nn.Module):
    """One l-inf perturbation shaped like an image, kept as a buffer (so it caches)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("delta", torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.delta.to(x.dtype)).clamp(0.0, 1.0)


class Universal(Attack):
    """Untargeted, input-agnostic: one perturbation for every query of the attacked model.

    Paper: Moosavi-Dezfooli et al., Universal adversarial perturbations, CVPR 2017; for hashing
    Hu et al., AdvHash: Set-to-set Targeted Attack on Deep Hashing with One Single Adversarial
    Patch, ACM MM 2021.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted; white-box while fitting, then
    the same perturbation for every query.
    Needs: train images.
    Defaults: 500 sign steps on minibatches of 64 train images (eps/8, then eps/32), saat10.
    Cost: fitting only (steps x batch forward and backward passes), once per model.

    Example:
        >>> Universal(eps=0.3, steps=10).params.batch_size
        64
    """

    name = "universal"
    version = 1
    targeted = False
    needs = frozenset({Need.TRAIN_IMAGES})
    Params = Params
    citation = Citation(
        key="MoosaviDezfooli2017Universal",
        title="Universal adversarial perturbations",
        url="https://arxiv.org/abs/1610.08401",
    )

    def objective(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Loss to minimise over a train minibatch: agreement with each image's clean code."""
        return (out * ref).mean()

    def reference(self, model, x: torch.Tensor, tag: str, ctx) -> torch.Tensor:
        with torch.no_grad(), eval_mode(model):
            return binarize(model(x))

    def fit(self, model, ctx, tag: str) -> Perturbation:
        p = self.params
        train = ctx.train_images
        device = next(model.parameters()).device
        shape = train.images(torch.arange(1)).shape[1:]

        def fit(pert: Perturbation) -> None:
            if p.eps <= 0:
                return
            rng = ctx.rng(f"universal/{tag}")
            delta = pert.delta.to(device)
            with eval_mode(model):
                for t in range(p.steps):
                    idx = torch.randint(0, len(train), (p.batch_size,), generator=rng)
                    x = train.images(idx).to(device)
                    ref = self.reference(model, x, tag, ctx)
                    d = delta.clone().requires_grad_(True)
                    out = model((x + d).clamp(0.0, 1.0), alpha=alpha_at(p.schedule, t, p.steps))
                    grad, = torch.autograd.grad(self.objective(out, ref), d)
                    size = p.eps / 8 if t < p.steps // 2 else p.eps / 32
                    delta = (delta - size * grad.sign()).clamp(-p.eps, p.eps)
            pert.delta.copy_(delta.cpu())

        return ctx.cached(self, tag, Perturbation(tuple(shape)), fit).to(device)

    def prepare(self, model, ctx):
        return {"all": self.fit(model, ctx, "all")}

    def perturb(self, model, x, batch, state, ctx):
        return state["all"](x.detach())


class UniversalTargeted(Universal):
    """Targeted, input-agnostic: one perturbation per target label (TUA), added to every query
    whose target it is.

    Paper: Targeted Universal Adversarial Attack on Deep Hash Networks (TUA), ICMR 2024.
    Threat model: l-inf, eps in [0,1] pixel units; targeted (reports t-mAP and mAP).
    Needs: target labels; train images, codes and labels (the target's center code).
    Defaults: as ``universal``, one fit per distinct target label of the queries.
    Cost: fitting, per target label, once per model.

    Example:
        >>> UniversalTargeted(eps=0.3).targeted
        True
    """

    name = "universal_targeted"
    targeted = True
    needs = frozenset({Need.TARGET_LABELS, Need.TRAIN_IMAGES, Need.TRAIN_CODES,
                       Need.TRAIN_LABELS})
    citation = Citation(
        key="TUA2024",
        title="Targeted Universal Adversarial Attack on Deep Hash Networks",
        url="https://github.com/caoyuan57/TUA",
    )

    def objective(self, out, ref):
        return -(out * ref).mean()

    def prepare(self, model, ctx):
        return {}  # one perturbation per target label, fitted when a query first needs it

    def reference(self, model, x, tag, ctx):
        target = torch.tensor([int(c) for c in tag], dtype=torch.float32).unsqueeze(0)
        code = center_codes(target.to(ctx.train_labels.device), ctx.train_codes,
                            ctx.train_labels)
        return code.to(x.device).expand(x.shape[0], -1)

    def perturb(self, model, x, batch, state, ctx):
        x = x.detach()
        out = x.clone()
        for i, target in enumerate(batch.target_labels.to(torch.int64).cpu()):
            if not target.any():
                continue  # no admissible target: the query is left as it is
            tag = "".join(str(int(v)) for v in target)
            if tag not in state:
                state[tag] = self.fit(model, ctx, tag)
            out[i:i + 1] = state[tag](x[i:i + 1])
        return out
