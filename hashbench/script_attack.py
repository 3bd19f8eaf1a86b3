"""``hashbench.attack``: a registered attack called from a script on a plain module, every batch
it returns checked by the harness (finite, [0,1], within eps)."""

from __future__ import annotations

from typing import Any

import torch

from hashbench.api import AttackContext, Need, QueryBatch, RankingOracle
from hashbench.errors import ConfigError
from hashbench.harness.evaluate import ranked_ids
from hashbench.harness.threat_model import check_adversarial
from hashbench.models.adapter import as_hash_model
from hashbench.registry import attacks


class ScriptAttack:
    """A registered attack for scripts, torchattacks-style: ``atk = hashbench.attack("hag",
    eps=8/255); x_adv = atk(model, images)``. Every batch it returns passed the harness's check
    (finite, [0,1], within eps, shaped like ``images``)."""

    def __init__(self, name: str, eps: float, seed: int = 0, **params):
        self.attack = attacks.create(name, eps=eps, **params)
        self.seed = seed

    def __call__(self, model: torch.nn.Module, images: torch.Tensor,
                 labels: torch.Tensor | None = None, *,
                 database: tuple[torch.Tensor, torch.Tensor] | None = None,
                 train: tuple[torch.Tensor, torch.Tensor] | None = None,
                 target_labels: torch.Tensor | None = None) -> torch.Tensor:
        """``labels``: the queries' label vectors; ``database`` / ``train``: (codes in {-1,+1},
        label vectors) of the items the attack may use (``train`` defaults to ``database``).
        Which of them an attack needs is its ``needs``; a missing one is a one-line error."""
        attack = self.attack
        net = as_hash_model(model, images[:2])
        train = train if train is not None else database
        provided: dict[str, Any] = {}
        if database is not None:
            provided[Need.DATABASE_CODES.value], provided[Need.DATABASE_LABELS.value] = database
        if train is not None:
            provided[Need.TRAIN_CODES.value], provided[Need.TRAIN_LABELS.value] = train
        missing = sorted(n.value for n in type(attack).needs if n.value not in provided
                         and n not in (Need.QUERY_LABELS, Need.TARGET_LABELS))
        if Need.QUERY_LABELS in type(attack).needs and labels is None:
            missing.append("labels")
        if Need.TARGET_LABELS in type(attack).needs and target_labels is None:
            missing.append("target_labels")
        if attack.access == "ranking" and database is None:  # the system it queries
            missing.append("database")
        if missing:
            raise ConfigError(f"attack {attack.name} needs {', '.join(missing)}; pass labels=, "
                              "database=(codes, labels), train=(codes, labels) or "
                              "target_labels= as it says")
        ctx = AttackContext.for_attack(attack, self.seed, "script", make_attack=attacks.create,
                                       **provided)
        batch = QueryBatch(index=torch.arange(len(images)), labels=labels,
                           target_labels=target_labels)
        if attack.access == "ranking" and database is not None:  # the ranked ids of net over
            oracle = RankingOracle(ranked_ids(net, database[0]), len(images),  # the database
                                   len(database[0]),
                                   attack.params.queries, f"attack {attack.name}")
            x_adv = attack.perturb(oracle, images, batch, attack.prepare(None, ctx), ctx)
        else:
            x_adv = attack.perturb(net, images, batch, attack.prepare(net, ctx), ctx)
        check_adversarial(images, x_adv, attack.params.eps, f"attack {attack.name}")
        return x_adv
