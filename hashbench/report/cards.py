"""A leaderboard row's model card, from its records alone: the defense and the attacks with the
parameters they ran with, the training recipe, each seed's checkpoint sha256 and the model zoo
name that loads it. The site shows one per row (``hashbench.report.html``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hashbench.records.types import AGGREGATES, CLEAN, Record


@dataclass
class Card:
    suite: str
    version: int
    dataset: str
    model: str  # <method>-<backbone>
    bits: int
    defense: str
    defense_params: dict = field(default_factory=dict)  # as the defense ran (all of them)
    recipe: dict = field(default_factory=dict)  # the suite's parameters of it (cell)
    hash_method: str = ""
    hash_params: dict = field(default_factory=dict)
    distribution: str = ""  # the package the defense came from, with its version
    checkpoints: dict[int, str] = field(default_factory=dict)  # seed -> checkpoint sha256
    parents: dict[int, str] = field(default_factory=dict)  # seed -> the checkpoint it tuned
    attacks: dict[str, dict] = field(default_factory=dict)  # attack -> params

    @property
    def zoo_name(self) -> str:
        """The name ``hashbench.load_model`` knows this row's checkpoints by (when the zoo
        publishes them)."""
        return f"{self.suite}-v{self.version}/{self.dataset}/{self.model}-{self.bits}b/" \
            f"{self.defense}"


def cards(records: list[tuple[Path, Record]], key_of) -> dict[tuple, Card]:
    """Per row key (``key_of(record)``, e.g. (board slug, model, defense)), the row's card."""
    out: dict[tuple, Card] = {}
    for _, rec in sorted(records, key=lambda pr: (pr[1].seed, str(pr[0]))):
        key = key_of(rec)
        m = rec.model
        card = out.get(key)
        if card is None:
            card = out[key] = Card(
                rec.suite.name, rec.suite.version, rec.dataset.name, f"{m.method}-{m.backbone}",
                m.bits, m.defense.name, dict(m.defense.params),
                dict(rec.cell.get("defense_params") or {}), m.method, dict(m.hash_params),
                f"{m.defense.distribution} {m.defense.dist_version}")
        if not rec.ok:
            continue
        if m.checkpoint_sha256:
            card.checkpoints.setdefault(rec.seed, m.checkpoint_sha256)
        if m.parent_checkpoint_sha256:
            card.parents.setdefault(rec.seed, m.parent_checkpoint_sha256)
        name = rec.attack_name
        if rec.attack is not None and name not in (CLEAN, *AGGREGATES) and rec.scale == 1:
            card.attacks.setdefault(name, dict(rec.attack.params))
    return out
