"""Ranking-only black-box attack: random search in the eps-ball that sees nothing but the ids a
deployed retrieval system returns.

A retrieval API answers a query image with a ranked list of database ids: no codes, scores,
gradients or labels. The threat model of query-based attacks on such systems (EQB2A, "Efficient
Query-based Black-Box Attack against Cross-modal Hashing Retrieval", ACM TOIS 2022; EmbSTar,
ICASSP 2025): the attacker may send up to ``queries`` images per
query it perturbs and read the lists. This attack gets exactly that from the harness, a
``RankingOracle`` in place of the model, and minimises how much of the clean query's list the
adversarial query still returns:

* objective: the average overlap of the first ``depth`` ids of the two lists (the mean over
  cutoffs d = 1..depth of |A_d intersect B_d| / d, the top-weighted overlap behind rank-biased
  overlap), 1 for the same list and 0 for disjoint ones;
* search: Square Attack's l-inf random search (Andriushchenko et al., ECCV 2020): start at
  vertical stripes of +-eps, then one random square per query moved to a corner of the ball,
  kept when the overlap does not rise (a plateau is crossed rather than stuck on); the square's
  share of the image halves on Square Attack's schedule rescaled to the query budget;
* a query whose list no longer shares any of its first ``depth`` ids stops spending queries.

The first query (the clean list) and the start count against the budget; the harness counts
every image sent and fails the cell if one exceeds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hashbench.api import Attack
from hashbench.kit.attack_kit import EpsParams, SquareSearch
from hashbench.kit.citations import SQUARE_ATTACK


@dataclass(frozen=True)
class Params(EpsParams):
    queries: int = field(default=1000, metadata={"min": 0, "max": 10**6,
                                                 "help": "ranked-list queries per image"})
    depth: int = field(default=100, metadata={"min": 1, "max": 10**6,
                                              "help": "ids of each list compared"})
    p_init: float = field(default=0.8, metadata={"min": 0.0, "max": 1.0,
                                                 "help": "initial share of the image a square covers"})


def average_overlap(lists: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per row, the mean over d = 1..D of |lists[:, :d] & reference[:, :d]| / d (both (n, D)
    of distinct ids). An id at position j of one list and k of the other counts from cutoff
    max(j, k) + 1 on, adding sum_{d > max(j, k)} 1/d = H_D - H_max(j,k).

    The shared ids are found by sorting each row's 2D ids (a shared id is then a reference copy
    followed by a list copy), O(n D log D) where comparing every pair was O(n D^2): a third of
    the attack's time went there. The gains are summed by list position as before, so the
    value is the same to the bit."""
    n, depth = lists.shape
    dev = lists.device
    ids, at = torch.cat([reference, lists], 1).sort(dim=1, stable=True)
    shared = (ids[:, 1:] == ids[:, :-1]) & (at[:, :-1] < depth) & (at[:, 1:] >= depth)
    row, j = shared.nonzero(as_tuple=True)
    ref_at, list_at = at[row, j], at[row, j + 1] - depth
    harmonic = torch.cat([torch.zeros(1, dtype=torch.float64, device=dev),
                          (1.0 / torch.arange(1, depth + 1, dtype=torch.float64,
                                              device=dev)).cumsum(0)])
    gain = torch.zeros(n, depth, dtype=torch.float64, device=dev)
    gain[row, list_at] = harmonic[depth] - harmonic[torch.maximum(ref_at, list_at)]
    return (gain.sum(1) / depth).to(torch.float32)


class RankingBlackbox(Attack):
    """Untargeted, query-based black-box: random search that reads only the returned ids.

    Paper: the threat model of EQB2A, Efficient Query-based Black-Box Attack against
    Cross-modal Hashing Retrieval, ACM TOIS 2022 (a system answering with rankings); the search
    of Andriushchenko et al., Square Attack, ECCV 2020.
    Threat model: l-inf, eps in [0,1] pixel units; untargeted; black-box: the ranked ids the
    system returns for a query (its top K), at most ``queries`` queries per image.
    Needs: nothing of the model, its codes or the labels; the harness gives a RankingOracle.
    Defaults: 1,000 queries per image, overlap over the first 100 ids, p_init 0.8 (Square
    Attack's l-inf value).

    Example:
        >>> RankingBlackbox(eps=0.3).params.queries
        1000
    """

    name = "ranking_blackbox"
    version = 1
    targeted = False
    access = "ranking"
    blackbox = True
    needs = frozenset()
    Params = Params
    citation = SQUARE_ATTACK

    def perturb(self, oracle, x, batch, state, ctx):
        p = self.params
        x = x.detach()
        if p.eps <= 0 or p.queries < 2 or x.shape[0] == 0:
            return x.clone()
        depth = min(p.depth, oracle.length)
        search = SquareSearch(x, p.eps, p.p_init, p.queries,
                              ctx.rng(f"ranking/{int(batch.index[0])}"))
        clean = oracle(x, depth=depth)
        best = search.start()
        score = average_overlap(oracle(best, depth=depth), clean)
        for it in range(p.queries - 2):
            rows = (score > 0).nonzero().flatten().cpu()
            if rows.numel() == 0:
                break
            r = rows.to(x.device)
            cand = search.propose(it, rows, best[r])
            s = average_overlap(oracle(cand, rows, depth=depth), clean[r])
            keep = s <= score[r]
            best[r[keep]] = cand[keep]
            score[r[keep]] = s[keep]
        return best
