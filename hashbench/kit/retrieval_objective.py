"""The real objective of an attack on retrieval, per query: what the harness will score.

Surrogate losses (agreement with a clean or center code...) are what an attack descends; the
number the board reports is each query's AP against the attacked model's database codes. An
attack that keeps, per query, the iterate with the lowest *real* AP (not the lowest surrogate)
can only report a weaker model if the model really is weaker: this module computes that AP for
candidate codes, breaks its ties, and tracks the best candidate of every query.

* ``RetrievalScore.ap(codes)``: AP@K of each query, exactly as the harness computes it for the
  record: the same ranking, and ties scored as the suite scores them (``ties``: by database
  index, or their expectation over every order), so the ensemble descends the board's number.
* ``RetrievalScore.tie(out)``: a continuous tie-breaker for candidates of equal AP (AP is
  piecewise constant in the codes): the relaxed output's agreement with the direction from the
  query's relevant database codes to its irrelevant ones. Lower is better for the attacker.
* ``RetrievalScore.floor``: the lowest AP a query can have at all (every relevant item ranked
  after every irrelevant one). A query within ``DONE_MARGIN`` of it is *broken*: no later attack
  can gain more than that on it, so ensembles skip it (AutoAttack's "already misclassified").
* ``SmoothAP``: a differentiable surrogate of the tie-aware AP itself (an attack can descend
  the metric, not only code agreement): relaxed Hamming distances binned softly at the integer
  levels, and each level's expected contribution over every order within it computed from the
  soft counts; as its temperature goes to 0 on binary codes it is the tie-aware AP.
"""

from __future__ import annotations

import torch

from hashbench.metrics import Ties, average_precision, binarize, relevance

# A query whose AP is within this of its floor is done: later attacks cannot gain more on it.
DONE_MARGIN = 0.005


def min_average_precision(q_labels: torch.Tensor, db_labels: torch.Tensor,
                          topk: int | None) -> torch.Tensor:
    """Per query, the AP@K of the worst possible ranking: all R relevant items after the N - R
    irrelevant ones. Within the top K that leaves R_K = max(0, K - (N - R)) relevant items at
    ranks N - R + i, so AP = (1 / R_K) sum_i i / (N - R + i), and 0 when R_K = 0."""
    return _min_ap(relevance(q_labels, db_labels), topk)


def _min_ap(rel: torch.Tensor, topk: int | None) -> torch.Tensor:
    """``min_average_precision`` from the (queries x database) relevance matrix."""
    n = rel.shape[1]
    k = n if topk is None else min(topk, n)
    r = rel.sum(1).to(torch.float64)
    r_k = (k - (n - r)).clamp(min=0)
    i = torch.arange(1, n + 1, dtype=torch.float64, device=rel.device)
    terms = i.unsqueeze(0) / ((n - r).unsqueeze(1) + i.unsqueeze(0))
    terms = torch.where(i.unsqueeze(0) <= r_k.unsqueeze(1), terms, torch.zeros_like(terms))
    return (terms.sum(1) / r_k.clamp(min=1)).cpu()


class RetrievalScore:
    """The real objective of a batch of queries against one model's database codes."""

    def __init__(self, db_codes: torch.Tensor, db_labels: torch.Tensor, q_labels: torch.Tensor,
                 topk: int | None, ties: Ties = "index"):
        self.db_codes = binarize(db_codes)
        self.db_labels, self.q_labels, self.topk, self.ties = db_labels, q_labels, topk, ties
        is_rel = relevance(q_labels, db_labels)
        rel = is_rel.to(torch.float32)
        n_rel = rel.sum(1, keepdim=True)
        n_irr = rel.shape[1] - n_rel
        mu_rel = (rel @ self.db_codes) / n_rel.clamp(min=1)
        mu_irr = ((1 - rel) @ self.db_codes) / n_irr.clamp(min=1)
        self.direction = (mu_rel - mu_irr) / self.db_codes.shape[1]  # (B, K)
        self.floor = _min_ap(is_rel, topk)  # the same relevance, computed once

    def subset(self, rows: torch.Tensor) -> "RetrievalScore":
        """The objective of some of the queries (``rows``: indices or a boolean mask)."""
        out = object.__new__(RetrievalScore)
        out.db_codes, out.db_labels, out.topk = self.db_codes, self.db_labels, self.topk
        out.ties = self.ties
        out.q_labels, out.direction = self.q_labels[rows], self.direction[rows]
        out.floor = self.floor[rows.cpu()]
        return out

    def ap(self, codes: torch.Tensor) -> torch.Tensor:
        """Per-query AP@K (float64, CPU) of the codes (relaxed outputs are binarised)."""
        res = average_precision(binarize(codes).cpu(), self.db_codes.cpu(), self.q_labels.cpu(),
                                self.db_labels.cpu(), self.topk, self.ties)
        return torch.as_tensor(res.ap, dtype=torch.float64)

    def tie(self, out: torch.Tensor) -> torch.Tensor:
        """Per-query tie-breaker of relaxed outputs (lower is better for the attacker)."""
        return (out.detach().to(torch.float32) * self.direction).sum(1).cpu().to(torch.float64)

    def done(self, ap: torch.Tensor) -> torch.Tensor:
        """Queries already within ``DONE_MARGIN`` of their lowest possible AP."""
        return ap <= self.floor + DONE_MARGIN


class BestTracker:
    """Per query, the best adversarial input seen so far by (AP, tie-breaker), and which stage
    found it. Starts at the clean queries (stage -1)."""

    def __init__(self, x: torch.Tensor, out: torch.Tensor, score: RetrievalScore):
        self.score = score
        self.x = x.detach().clone()
        self.ap = score.ap(out)
        self.tie_value = score.tie(out)
        self.stage = torch.full((x.shape[0],), -1, dtype=torch.int64)

    def offer(self, rows: torch.Tensor, x_cand: torch.Tensor, out: torch.Tensor,
              stage: int = 0) -> torch.Tensor:
        """Offer candidates for the queries ``rows`` (indices); keep the better ones. Returns
        the boolean mask (over ``rows``) of candidates that were kept."""
        sub = self.score.subset(rows)
        ap, tie = sub.ap(out), sub.tie(out)
        best_ap, best_tie = self.ap[rows], self.tie_value[rows]
        better = (ap < best_ap - 1e-12) | ((ap <= best_ap + 1e-12) & (tie < best_tie - 1e-9))
        if better.any():
            r = rows[better]
            self.x[r.to(self.x.device)] = x_cand[better.to(x_cand.device)].detach()
            self.ap[r], self.tie_value[r], self.stage[r] = ap[better], tie[better], stage
        return better

    def done(self) -> torch.Tensor:
        return self.score.done(self.ap)


# SmoothAP's levels per distance: the window around it that holds all but ~1e-8 of its weight
WINDOW = 6


class SmoothAP:
    """Per query, a smooth tie-aware AP of relaxed outputs against the database codes (full
    ranking). The relaxed distance d_j = (K - u . b_j) / 2 of every database item is assigned to
    the levels 0..K with weights softmax(-(d_j - z)^2 / tau); from the soft count n_z and soft
    relevant count r_z of each level, and N, R those of the levels before it, a level adds
    r_z / n_z ((R + 1) S + (r_z - 1) / (n_z - 1) (n_z - (N + 1) S)) with
    S = digamma(N + n_z + 1) - digamma(N + 1): the expected sum of precisions of its relevant
    items over a uniform order within the level (McSherry and Najork, ECIR 2008), in closed
    form, so that it is differentiable in the counts. The sum over levels over R_total is AP.

    Items sharing a code share a distance, so the sums run over the database's distinct codes,
    each weighted by how many items (and, per query, how many relevant items) carry it: a
    trained model's 4,500 database items hold a few hundred codes, and the attack's step costs
    that much less."""

    def __init__(self, db_codes: torch.Tensor, db_labels: torch.Tensor, q_labels: torch.Tensor,
                 tau: float = 0.5):
        db = binarize(db_codes).to(torch.float32)
        self.codes, inverse = torch.unique(db, dim=0, return_inverse=True)
        members = torch.zeros(db.shape[0], self.codes.shape[0], device=db.device)
        members[torch.arange(db.shape[0], device=db.device), inverse] = 1.0
        rel = relevance(q_labels, db_labels).to(torch.float32).to(db.device)
        self.count = members.sum(0)  # items per distinct code
        self.rel_count = rel @ members  # per query: relevant items per distinct code
        self.rel_total = rel.sum(1)
        self.tau = tau

    def subset(self, rows: torch.Tensor) -> "SmoothAP":
        out = object.__new__(SmoothAP)
        out.codes, out.count, out.tau = self.codes, self.count, self.tau
        r = rows.to(self.rel_count.device)
        out.rel_count, out.rel_total = self.rel_count[r], self.rel_total[r]
        return out

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        dev = out.device
        bits = self.codes.shape[1]
        dist = (bits - out.to(torch.float32) @ self.codes.T.to(dev)) / 2  # (B, codes)
        n, r = self._soft_counts(dist, bits)
        before_n, before_r = n.cumsum(1) - n, r.cumsum(1) - r
        s = torch.digamma(before_n + n + 1) - torch.digamma(before_n + 1)
        first = r / n.clamp(min=1e-12) * (before_r + 1) * s
        both = (r * (r - 1)).clamp(min=0) / (n * (n - 1)).clamp(min=1e-6)
        level = first + both * (n - (before_n + 1) * s)
        return level.sum(1) / self.rel_total.to(dev).clamp(min=1)

    def _soft_counts(self, dist: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per query and level, the soft item count and soft relevant count. A distance's
        weights are computed on the WINDOW levels nearest it only (the softmax over all K + 1
        levels, less the mass beyond them: below exp(-WINDOW^2 / 4 / tau), 1e-8 at tau 0.5),
        and added into their levels: a few weights per code instead of K + 1."""
        dev = dist.device
        base = torch.floor(dist).to(torch.long) - (WINDOW // 2 - 1)  # the window's first level
        offsets = torch.arange(WINDOW, device=dev)
        lv = base.unsqueeze(-1) + offsets  # (B, codes, WINDOW)
        inside = (lv >= 0) & (lv <= bits)
        logits = (-(dist.unsqueeze(-1) - lv.to(dist.dtype)) ** 2 / self.tau).masked_fill(
            ~inside, float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        idx = lv.clamp(0, bits).flatten(1)
        count = (weights * self.count.to(dev)[None, :, None]).flatten(1)
        rel = (weights * self.rel_count.to(dev)[:, :, None]).flatten(1)
        zeros = torch.zeros(dist.shape[0], bits + 1, device=dev, dtype=dist.dtype)
        return zeros.scatter_add(1, idx, count), zeros.scatter_add(1, idx, rel)
