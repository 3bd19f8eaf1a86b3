"""THA (Targeted Hashing Attack): PGD onto the code a prototype network gives the target label.

Wang, Zhang, Lu, Xu, "Targeted Attack and Defense for Deep Hashing", SIGIR 2021 (the attack
half of ATRDH; xunguangwang/Targeted-Attack-and-Defense-for-Deep-Hashing attack.py). A
PrototypeNet (``hashbench.kit.prototypes``, the one ATRDH trains beside its model) is fitted to the
attacked model's train codes, once per attacked model (cached with it): label vectors drawn from
the database's distinct labels are pulled toward the codes sharing a label with them. Each query
is then attacked by PGD minimising -f(x')^T sign(P(y_t)) / K, as the official code does (sign
steps, no random start, tanh scale 1). A query without an admissible target is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hashbench.api import Attack, Citation, Need
from hashbench.kit.attack_kit import LinfParams, iterations
from hashbench.kit.optim import Schedule, projected_descent
from hashbench.kit.prototypes import fitted_prototypes

THA_CITATION = Citation(
    key="Wang2021Targeted",
    title="Targeted Attack and Defense for Deep Hashing",
    url="https://doi.org/10.1145/3404835.3463233",
)


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(100, "PGD iterations (paper: 100)")
    step: float | None = field(default=None, metadata={
        "min": 0.0, "help": "step size; None means eps/8 (the paper's 1/255 at 8/255)"})
    schedule: Schedule = field(default="constant", metadata={"help": "tanh-scale schedule"})
    proto_steps: int = field(default=30000, metadata={
        "min": 0, "max": 10**6, "help": "PrototypeNet steps (paper: 100 epochs x 300)"})
    batch_size: int = field(default=32, metadata={"min": 1, "help": "PrototypeNet batch"})
    proto_lr: float = field(default=1e-4, metadata={"min": 0.0})
    proto_hidden: int = field(default=4096, metadata={"min": 8})


class THA(Attack):
    """Targeted: pull the query's code onto the target label's prototype code.

    Paper: Wang et al., Targeted Attack and Defense for Deep Hashing, SIGIR 2021.
    Threat model: l-inf, eps in [0,1] pixel units; targeted (reports t-mAP and mAP); white-box.
    Needs: target labels; train codes and labels (the prototype's bank) and database labels
    (its candidate targets) of the attacked model.
    Defaults: official attack.py: 100 sign steps of eps/8 (1/255 at 8/255), no random start;
    PrototypeNet 30,000 Adam steps (lr 1e-4, betas 0.5/0.999, x0.1 at 50% and 75%), batch 32,
    4096 hidden units.
    Cost: fitting the PrototypeNet once per attacked model (label-sized, no image passes).

    Example:
        >>> THA(eps=0.3, proto_steps=100).params.steps
        100
    """

    name = "tha"
    version = 1
    targeted = True
    needs = frozenset({Need.TARGET_LABELS, Need.TRAIN_CODES, Need.TRAIN_LABELS,
                       Need.DATABASE_LABELS})
    Params = Params
    citation = THA_CITATION

    def prepare(self, model, ctx):
        return fitted_prototypes(self, ctx)

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        target = state.codes(batch.target_labels).to(x.device)
        k = target.shape[1]
        return projected_descent(
            model, x, lambda out, t: -(out * target).sum(1) / k, eps=p.eps,
            step=p.step if p.step is not None else p.eps / 8, steps=p.steps, schedule=p.schedule,
        )
