"""Adversarial training against HAG: an example of a defense that runs a registered attack as
its inner maximisation inside ``fit`` (``ctx.inner_attack``)."""

from dataclasses import dataclass, field

from hashbench.training import TrainConfig

from hashbench.api import Citation, Defense, Need, QueryBatch


@dataclass(frozen=True)
class HagParams:
    epochs: int = field(default=5, metadata={"min": 0})
    lr: float = field(default=1e-3, metadata={"min": 0.0})
    steps: int = field(default=5, metadata={"min": 1, "help": "inner HAG iterations"})
    weight: float = field(default=1.0, metadata={"min": 0.0, "help": "adversarial weight"})


class HagTraining(Defense):
    """Adversarial training against HAG: each minibatch is attacked with the registry's ``hag``
    (run by the harness as an inner attack), and the model learns to keep its codes there.

    Paper: none (an example plugin showing ``ctx.inner_attack`` inside ``fit``).
    Threat model: l-inf at the protocol's eps, untargeted.
    Needs: train labels.
    Defaults: 5 epochs of Adam 1e-3, HAG with 5 steps, adversarial weight 1.

    Example:
        >>> HagTraining(steps=3).params.steps
        3
    """

    name = "hag_at"
    version = 1
    needs = frozenset({Need.TRAIN_LABELS})
    Params = HagParams
    citation = Citation(key="example", title="hashbench example defense",
                        url="https://github.com/hashbench/hashbench/tree/main/examples")

    def fit(self, model, split, ctx):
        p = self.params
        loss = ctx.make_hash_loss()
        # the registered attack, with this defense's settings where it has parameters of those
        # names (HAG has eps and steps), and a suite's ``inner_params`` on top if it had any
        inner = ctx.inner_attack("hag", eps=ctx.eps, steps=p.steps)

        def step(batch, t):
            # a context per step: its generators (random starts) are scoped by the step
            actx = ctx.attack_context(inner, f"inner/{t}")
            query = QueryBatch(index=batch.idx, labels=batch.y)
            x_adv = inner.perturb(model, batch.x, query, inner.prepare(model, actx), actx)
            u, u_adv = model(batch.x), model(x_adv)
            # the hashing loss on clean images, plus agreement of the adversarial codes with them
            return loss(u, batch.y, batch.idx) + p.weight * (u.detach() - u_adv).pow(2).mean()

        cfg = TrainConfig(epochs=p.epochs, optimizer="adam", lr=p.lr, weight_decay=0.0)
        return ctx.fit(model, split, step, cfg)
