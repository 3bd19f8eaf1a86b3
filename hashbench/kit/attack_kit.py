"""What the harness hands an attack beside its context: the query batch, the report it may
return, the ranked-list oracle of a ranking-only (black-box) attack and the cache of state an
attack fits per attacked model. Plugins receive them; only the harness builds an oracle or a
cache (and tests and selfcheck). And the parameters every image attack shares: its l-inf
budget (``EpsParams``), its iterations (``LinfParams``), a step size (``PGDParams``) and random
restarts (``RestartParams``), which an attack's ``Params`` extends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from hashbench.errors import PluginError


def iterations(default: int = 100, help: str = "iterations", most: int = 100000):
    """A ``steps`` field: the iterations (or queries) an attack spends per image."""
    return field(default=default, metadata={"min": 0, "max": most, "help": help})


@dataclass(frozen=True)
class EpsParams:
    """The l-inf budget every image attack has; the harness sets it from the protocol and holds
    every batch to it, whatever the attack does."""

    eps: float = field(default=8 / 255, metadata={"min": 0.0, "max": 1.0,
                                                  "help": "l-inf budget, [0,1] pixel units"})


@dataclass(frozen=True)
class LinfParams(EpsParams):
    steps: int = iterations()


@dataclass(frozen=True)
class PGDParams(LinfParams):
    step: float | None = field(default=None, metadata={"min": 0.0,
                                                       "help": "step size; None means eps/8"})


@dataclass(frozen=True)
class RestartParams(LinfParams):
    restarts: int = field(default=1, metadata={"min": 1, "max": 100, "help": "random restarts"})


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
    key = (source, eps, steps, ctx.topk, ctx.ties, tuple(int(i) for i in batch.index))
    if key not in src.memo:
        sub = QueryBatch(index=batch.index, labels=batch.labels)
        sctx = src.context(attack, seed=ctx.seed, topk=ctx.topk, ties=ctx.ties,
                           make_attack=ctx.attack)
        device = next(src.model.parameters()).device
        x_src = attack.perturb(src.model, x.detach().to(device), sub,
                               attack.prepare(src.model, sctx), sctx)
        src.memo[key] = x_src.detach().cpu()
    return src.memo[key].to(x.device, x.dtype).clone()


# Square Attack's halving points of the square's share of the image, out of 10,000 queries
SQUARE_SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(p_init: float, it: int, steps: int) -> float:
    """The share of the image a square covers at query ``it`` of ``steps`` (Square Attack's
    schedule rescaled to the budget)."""
    scaled = int(it / max(steps, 1) * 10000)
    return p_init / 2 ** sum(scaled > mark for mark in SQUARE_SCHEDULE)


class SquareSearch:
    """Square Attack's l-inf proposals (Andriushchenko et al., ECCV 2020) for a batch ``x``:
    ``start()`` moves every column of every channel by +eps or -eps; ``propose(it, rows, cur)``
    sets, for each of ``rows``, one random square (its side from ``square_fraction``) of its
    current point ``cur`` to x + eps or x - eps per channel. Every draw comes from ``gen``, in
    a fixed order, so a search is reproducible; what is kept is the attack's choice."""

    def __init__(self, x: torch.Tensor, eps: float, p_init: float, steps: int,
                 gen: torch.Generator):
        self.x, self.eps, self.p_init, self.steps, self.gen = x, eps, p_init, steps, gen
        _, _, h, w = x.shape
        self.hh = torch.arange(h, device=x.device).view(1, 1, h, 1)
        self.ww = torch.arange(w, device=x.device).view(1, 1, 1, w)

    def _signs(self, *shape: int) -> torch.Tensor:
        return (torch.randint(0, 2, shape, generator=self.gen) * 2 - 1).to(self.x.device,
                                                                            self.x.dtype)

    def start(self) -> torch.Tensor:
        n, c, _, w = self.x.shape
        return (self.x + self.eps * self._signs(n, c, 1, w)).clamp(0.0, 1.0)

    def propose(self, it: int, rows: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        _, c, h, w = self.x.shape
        m = rows.numel()
        share = square_fraction(self.p_init, it, self.steps)
        side = max(1, min(h, w, int(round(math.sqrt(share * h * w)))))
        top = torch.randint(0, h - side + 1, (m,), generator=self.gen).to(self.x.device)
        left = torch.randint(0, w - side + 1, (m,), generator=self.gen).to(self.x.device)
        hh, ww = self.hh, self.ww
        inside = ((hh >= top.view(-1, 1, 1, 1)) & (hh < (top + side).view(-1, 1, 1, 1))
                  & (ww >= left.view(-1, 1, 1, 1)) & (ww < (left + side).view(-1, 1, 1, 1)))
        r = rows.to(self.x.device)
        corner = (self.x[r] + self.eps * self._signs(m, c, 1, 1)).clamp(0.0, 1.0)
        return torch.where(inside, corner, current)
