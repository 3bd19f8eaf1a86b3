"""Building blocks of defenses, part of the plugin API: the training parameters every defense
shares (``TrainingParams``: epochs, batch size, optimiser, learning rate, momentum, weight decay
and ``train_config()``; the learning-rate milestones are the class's ``MILESTONES``).

CgAT's code-guided adversarial training loop, its defaults and SAAT's, which API version 1
offered here, live with the defenses that use them (``hashbench.defenses._guided``); their
names still resolve from here, with a DeprecationWarning, for version-1 plugins.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from hashbench.kit.training import TrainConfig


@dataclass(frozen=True)
class TrainingParams:
    """What every defense's training is set by (CgAT's hashing.py recipe as defaults)."""

    MILESTONES: ClassVar[tuple[float, ...] | None] = None  # None: TrainConfig's own

    epochs: int = field(default=100, metadata={"min": 0, "max": 10000})
    batch_size: int = field(default=64, metadata={"min": 1})
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = field(default=0.01, metadata={"min": 0.0})
    momentum: float = field(default=0.9, metadata={"min": 0.0, "max": 1.0})
    weight_decay: float = field(default=5e-4, metadata={"min": 0.0})

    def train_config(self) -> TrainConfig:
        extra: dict[str, Any] = {"milestones": self.MILESTONES} \
            if self.MILESTONES is not None else {}
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size,
                           optimizer=self.optimizer, lr=self.lr, momentum=self.momentum,
                           weight_decay=self.weight_decay, **extra)


# API version 1 offered CgAT's loop and defaults here: they are the defenses' own now
_MOVED = ("CGAT_CITATION", "SAAT_CITATION", "GuidedATParams", "MainstayATParams",
          "GuidedAdversarialTraining")


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    warnings.warn(f"hashbench.defense_kit.{name} moved to hashbench.defenses._guided (the "
                  "defenses that use it); import it from there", DeprecationWarning, stacklevel=2)
    # by name: the kit never imports a plugin family's module (it would depend on the kit)
    return getattr(importlib.import_module("hashbench.defenses._guided"), name)
