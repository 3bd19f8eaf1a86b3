"""Code-consistency training: an example of a third-party hashbench defense (``hag_training``
holds a second one, which runs a registered attack inside ``fit``)."""

from dataclasses import dataclass, field

import torch
from hashbench.training import TrainConfig

from hashbench.api import Citation, Defense, Need


@dataclass(frozen=True)
class Params:
    epochs: int = field(default=5, metadata={"min": 0})
    lr: float = field(default=1e-3, metadata={"min": 0.0})
    weight: float = field(default=1.0, metadata={"min": 0.0, "help": "consistency weight"})


class CodeConsistency(Defense):
    """Fine-tune so that codes agree on x and on x plus uniform noise in the eps-ball.

    Paper: none (an example plugin; noise-consistency baselines are common in the literature).
    Threat model: l-inf at the protocol's eps, random (not adversarial) perturbations.
    Needs: train labels.
    Defaults: 5 epochs of Adam 1e-3, consistency weight 1.

    Example:
        >>> CodeConsistency(epochs=2).params.weight
        1.0
    """

    name = "consistency"
    version = 1
    needs = frozenset({Need.TRAIN_LABELS})
    Params = Params
    citation = Citation(key="example", title="hashbench example defense",
                        url="https://github.com/hashbench/hashbench/tree/main/examples")

    def fit(self, model, split, ctx):
        loss, gen = ctx.make_hash_loss(), ctx.rng("noise")

        def step(batch, t):
            noise = (torch.rand(batch.x.shape, generator=gen) * 2 - 1).to(batch.x.device)
            u = model(batch.x)
            u_noisy = model((batch.x + ctx.eps * noise).clamp(0, 1))
            return loss(u, batch.y, batch.idx) + self.params.weight * (u - u_noisy).pow(2).mean()

        cfg = TrainConfig(epochs=self.params.epochs, optimizer="adam", lr=self.params.lr,
                          weight_decay=0.0)
        return ctx.fit(model, split, step, cfg)

