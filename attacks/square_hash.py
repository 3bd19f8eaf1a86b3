"""Square-Hash: a gradient-free attack on deep hashing (Square Attack adapted to codes).

Andriushchenko et al., "Square Attack: a query-efficient black-box adversarial attack via random
search", ECCV 2020 (l-inf version, as in AutoAttack). It reads only the model's outputs (forward
passes, no gradient), so a defense that masks or obfuscates gradients cannot hide from it:

* start at vertical stripes: every column of every channel moved by +eps or -eps at random;
* each query of the budget, one random square of side s = round(sqrt(p HW)) is set, per channel,
  to x + eps or x - eps at random (the corners of the l-inf ball), and the candidate is kept when
  the query's *real* objective improves: a lower AP against the attacked model's database codes,
  or, at equal AP, relaxed outputs nearer the irrelevant side (``hashbench.kit.retrieval_objective``);
* p starts at ``p_init`` and halves on Square Attack's schedule (iterations 10, 50, 200, 500,
  1000, 2000, 4000, 6000, 8000 of 10,000, rescaled to the budget);
* a query already within 0.005 of its lowest possible AP stops spending queries.

Only the budget (eps), the number of queries (``steps``) and ``p_init`` (the paper's 0.8 for
l-inf) are knobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hashbench.api import Attack, Need
from hashbench.kit.attack_kit import LinfParams, SquareSearch, iterations
from hashbench.kit.citations import SQUARE_ATTACK
from hashbench.kit.optim import eval_mode
from hashbench.kit.retrieval_objective import BestTracker, RetrievalScore


@dataclass(frozen=True)
class Params(LinfParams):
    steps: int = iterations(300, "queries (forward passes) per image")
    p_init: float = field(default=0.8, metadata={"min": 0.0, "max": 1.0,
                                                 "help": "initial fraction of pixels a square covers"})


class SquareHash(Attack):
    """Untargeted, gradient-free: random-search squares at the corners of the l-inf ball,
    accepted when the query's retrieval AP improves; reads only the model's outputs.

    Paper: Andriushchenko et al., Square Attack: a query-efficient black-box adversarial attack
    via random search, ECCV 2020 (adapted from class margins to retrieval AP).
    Threat model: l-inf, eps in [0,1] pixel units; untargeted; black-box (no gradients).
    Needs: query labels; database codes and labels (the objective it searches on).
    Defaults: 300 queries per image, p_init 0.8.

    Example:
        >>> SquareHash(eps=0.3, steps=50).params.p_init
        0.8
    """

    name = "square_hash"
    version = 1
    targeted = False
    needs = frozenset({Need.QUERY_LABELS, Need.DATABASE_CODES, Need.DATABASE_LABELS})
    Params = Params
    citation = SQUARE_ATTACK

    def perturb(self, model, x, batch, state, ctx):
        p = self.params
        x = x.detach()
        score = RetrievalScore(ctx.database_codes, ctx.database_labels, batch.labels, ctx.topk,
                               ctx.ties)
        if p.eps <= 0 or p.steps <= 0 or x.shape[0] == 0:
            return x.clone()
        search = SquareSearch(x, p.eps, p.p_init, p.steps, ctx.rng(f"square/{int(batch.index[0])}"))
        with torch.no_grad(), eval_mode(model), torch.autocast(x.device.type, enabled=False):
            tracker = BestTracker(x, model(x), score)
            start = search.start()
            tracker.offer(torch.arange(x.shape[0]), start, model(start))
            for it in range(p.steps - 1):
                rows = (~tracker.done()).nonzero().flatten()
                if rows.numel() == 0:
                    break
                cand = search.propose(it, rows, tracker.x[rows.to(x.device)])
                tracker.offer(rows, cand, model(cand))
        return tracker.x
