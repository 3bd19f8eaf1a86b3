"""What a plugin cites (``Citation``, shown on the board's cards), and the papers several
plugins build on, cited once here: ``from hashbench.kit.citations import AUTOATTACK``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Citation:
    key: str
    title: str
    url: str
    bibtex: str = ""


AUTOATTACK = Citation(
    key="Croce2020Reliable",
    title="Reliable evaluation of adversarial robustness with an ensemble of diverse "
          "parameter-free attacks",
    url="https://arxiv.org/abs/2003.01690",
)

SQUARE_ATTACK = Citation(
    key="Andriushchenko2020Square",
    title="Square Attack: a query-efficient black-box adversarial attack via random search",
    url="https://arxiv.org/abs/1912.00049",
)
