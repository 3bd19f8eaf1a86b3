"""What the harness hands an attack beside its context: the query batch, the report it may
return, the ranked-list oracle of a ranking-only (black-box) attack and the cache of state an
attack fits per attacked model. Plugins receive them; only the harness builds an oracle or a
cache (and tests and selfcheck)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from hashbench.errors import PluginError


@dataclass
class QueryBatch:
    """What an attack knows about the queries it perturbs (only the declared needs are set)."""

    index: torch.Tensor
    labels: torch.Tensor | None = None
    target_labels: torch.Tensor | None = None


@dataclass
class AttackReport:
    """What an attack adds to its cell's record beyond the scored queries (ensembles): JSON
    ``metrics`` stored under the record's ``metrics.ensemble``, and per-query ``arrays`` for the
    sidecar."""

    metrics: dict[str, Any]
    arrays: dict[str, Any] = field(default_factory=dict)


class StateCache:
    """Where ``AttackContext.cached`` keeps fitted attack state (the harness's cache, keyed by
    the attacked model); a plugin never builds one."""

    def fetch(self, attack, seed: int, tag: str, module: torch.nn.Module,
              fit: Callable[[torch.nn.Module], None]) -> None:
        raise NotImplementedError


class RankingOracle:
    """What a ranking-only attack sees of the system it attacks: the ids it returns.

    ``oracle(x, rows)`` sends the images ``x`` (one per row of the batch being attacked,
    ``rows`` their positions in it; default all) as queries and returns, per image, the ids of
    the database items the system ranks first (``depth`` of them, at most ``length``: the
    protocol's top K, or the whole database), nearest first, ties by database index. No code,
    score, gradient or label comes back. Every image sent counts as one query of its row; a row
    past ``budget`` queries raises, so the budget holds whatever the attack does.
    """

    def __init__(self, rank: Callable[[torch.Tensor, int], torch.Tensor], n: int, length: int,
                 budget: int, owner: str):
        self._rank, self.length, self.budget, self._owner = rank, length, budget, owner
        self.spent = torch.zeros(n, dtype=torch.int64)

    def __call__(self, x: torch.Tensor, rows: torch.Tensor | None = None,
                 depth: int | None = None) -> torch.Tensor:
        rows = torch.arange(len(self.spent)) if rows is None else rows.cpu()
        if x.shape[0] != rows.numel():
            raise PluginError(f"{self._owner} sent {x.shape[0]} images for {rows.numel()} rows")
        after = self.spent.index_add(0, rows, torch.ones_like(rows))
        if int(after.max()) > self.budget:  # refused, and not counted
            raise PluginError(f"{self._owner} sent more than its budget of {self.budget} "
                              "queries for one image")
        self.spent = after
        k = self.length if depth is None else max(1, min(int(depth), self.length))
        with torch.no_grad():
            return self._rank(x.detach(), k)


def transferred_queries(src, ctx, source: str, eps: float, steps: int, x: torch.Tensor,
                        batch: QueryBatch, owner: str) -> torch.Tensor:
    """The queries ``x`` attacked by the registered white-box attack ``source`` on the model
    ``src`` (a ``SourceModel``: the vanilla model, or a surrogate) with its own codes, memoised
    on it, so every model attacked with the same source meets the very same queries and they
    are computed once per run; for transfer attacks."""
    attack = ctx.attack(source, eps=eps, steps=steps)
    if attack.targeted or attack.modality != "image":
        raise ValueError(f"{owner}: source '{source}' must be an untargeted image attack")
    key = (source, eps, steps, ctx.topk, tuple(int(i) for i in batch.index))
    if key not in src.memo:
        sub = QueryBatch(index=batch.index, labels=batch.labels)
        sctx = src.context(attack, seed=ctx.seed, topk=ctx.topk)
        device = next(src.model.parameters()).device
        x_src = attack.perturb(src.model, x.detach().to(device), sub,
                               attack.prepare(src.model, sctx), sctx)
        src.memo[key] = x_src.detach().cpu()
    return src.memo[key].to(x.device, x.dtype).clone()
