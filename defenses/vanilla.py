"""Vanilla: the hashing method's own training, with no adversarial term.

Exposed as a defense so the suite treats "no defense" like every other row; every other
first-party defense fine-tunes the checkpoint this one produces.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashbench.api import Citation, Defense, Need
from hashbench.kit.defense_kit import TrainingParams


@dataclass(frozen=True)
class Params(TrainingParams):
    """CgAT's hashing.py recipe (the kit's training defaults)."""


class Vanilla(Defense):
    """No defense: minimise the model's hashing loss (DPSH, DPH, HashNet or CSQ) on clean data.

    Paper: the hashing method's own (see ``hashbench list``).
    Threat model: none (the baseline every defense is compared with).
    Needs: train labels.
    Defaults: CgAT's hashing.py recipe: SGD lr 0.01, momentum 0.9, wd 5e-4, 100 epochs, batch 64,
    lr x0.1 at 1/3 and 2/3 of the steps. The embedded suites use a CPU-sized recipe.

    Example:
        >>> Vanilla(epochs=10, optimizer="adam", lr=1e-3).params.epochs
        10
    """

    name = "vanilla"
    version = 1
    needs = frozenset({Need.TRAIN_LABELS})
    starts_from = "scratch"
    uses_eps = False  # trains without adversarial examples
    Params = Params
    citation = Citation(key="Li2016Feature", title="Feature Learning based Deep Supervised "
                        "Hashing with Pairwise Labels", url="https://arxiv.org/abs/1511.03855")

    def fit(self, model, split, ctx):
        loss = ctx.make_hash_loss()

        def step(batch, t):
            return loss(model(batch.x, alpha=loss.train_alpha(t)), batch.y, batch.idx)

        return ctx.fit(model, split, step, self.params.train_config())
