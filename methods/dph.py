"""DPH: the pairwise squared inner-product loss of the HAG and SAAT victims.

The "deep pairwise hashing" victim model of Yang et al., Adversarial Examples for Hamming Space
Search (IEEE TCYB 2020), the default victim of ATRDH and SAAT: ``mean((u.U / K - s~)^2)`` with
s~ = 2 s - 1 in {-1, +1} against the bank U of the latest outputs (SAAT's and CgAT's code); no
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashbench.api import Citation, HashLoss, ImageMethod


@dataclass(frozen=True)
class Params:
    pass


class DPHLoss(HashLoss):
    name = "dph"

    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = 2 * self.similarity(y) - 1
        return ((u @ bank.T) / self.bits - s).pow(2).mean()


class DPH(ImageMethod):
    """DPH pairwise squared inner product (the HAG / SAAT victim).

    Example:
        >>> DPH().hash_params()
        {}
    """

    name = "dph"
    version = 1
    Params = Params
    citation = Citation(key="Yang2020Adversarial", title="Adversarial Examples for Hamming "
                        "Space Search", url="https://doi.org/10.1109/TCYB.2018.2882908")

    def loss(self, train_labels, bits, generator):
        return DPHLoss(train_labels, bits, generator)
