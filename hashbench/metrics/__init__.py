"""Retrieval metrics on binary codes: Hamming ranking, mAP@K, t-mAP@K, precision-recall, P@N.

Conventions (design.md, methods.md section 6.3 and P1-P4):

* Codes are +-1 tensors. Hamming distance is ``(K - q.b) / 2``.
* The ranking sorts by (Hamming distance, database index): ties are broken by index, so the
  numbers never depend on a sort algorithm's whim.
* Two items are relevant when their label vectors share at least one label.
* AP@K of a query is ``(1/R_K) sum_r rel_r * P@r`` over its top K, with R_K the relevant items
  retrieved within K; a query with R_K = 0 scores 0 and still counts in the mean (the CgAT / SAAT /
  DeepHash-pytorch convention). ``zero_ap="skip"`` gives DHTA's convention instead, which drops those
  queries from the mean.
* ``topk=None`` means the full ranking (never -1).

Everything is vectorised over chunks of queries; no per-query Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

try:  # the compiled CPU kernel (numba); the torch path below is the fallback and the reference
    from hashbench.metrics import cpu as _cpu_kernel
except ImportError:  # pragma: no cover - numba missing
    _cpu_kernel = None  # type: ignore[assignment]

ZeroAP = Literal["count", "skip"]
# How a ranking's ties in Hamming distance are scored: "index" breaks them by database index,
# "expected" averages over every order within them (a suite's ``ties``)
Ties = Literal["index", "expected"]


def binarize(x: torch.Tensor) -> torch.Tensor:
    """sign() with ties broken to +1, as float +-1 (design.md: codes never hold 0)."""
    return torch.where(x >= 0, 1.0, -1.0).to(torch.float32)


def hamming_distance(q: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
    """Pairwise Hamming distances (int64) between +-1 code matrices ``q`` (n, K) and ``db`` (m, K)."""
    k = q.shape[1]
    inner = q.to(torch.float32) @ db.to(torch.float32).T
    # exact without rounding: inner products of +-1 codes are integers of K's parity (K < 2^24)
    return ((k - inner) * 0.5).to(torch.int64)


def relevance(q_labels: torch.Tensor, db_labels: torch.Tensor) -> torch.Tensor:
    """Bool (n, m): query i and item j share at least one label."""
    return (q_labels.to(torch.float32) @ db_labels.to(torch.float32).T) > 0


def _ranked_relevance(q_labels: torch.Tensor, db_labels: torch.Tensor,
                      order: torch.Tensor) -> torch.Tensor:
    """Relevance (n, k) of the items in ``order``: from their labels alone when k is small (the
    top-K case), else gathered from the full (n, m) relevance matrix."""
    if order.shape[1] * db_labels.shape[1] < db_labels.shape[0]:
        picked = db_labels.to(torch.float32)[order]  # (n, k, C)
        return torch.bmm(picked, q_labels.to(torch.float32).unsqueeze(2)).squeeze(2) > 0
    return torch.gather(relevance(q_labels, db_labels), 1, order)


def _ranking(q: torch.Tensor, db: torch.Tensor, topk: int | None) -> torch.Tensor:
    """Indices (n, k) of the database in ranking order: by distance, then by database index."""
    n_db = db.shape[0]
    # A unique integer key per item makes the order total: distance first, index second.
    dist = hamming_distance(q, db)
    if topk is None or topk >= n_db:
        key = dist * n_db + torch.arange(n_db, device=db.device)
        return torch.argsort(key, dim=1)
    return _topk_by_buckets(dist, topk)


def _topk_by_buckets(dist: torch.Tensor, topk: int) -> torch.Tensor:
    """The first ``topk`` of each row's (distance, index) order, without sorting the database.

    Distances are integers 0..K, so a per-row histogram gives the threshold distance D: every
    item nearer than D is in, and so are the first items at D in index order, up to ``topk``.
    That is a few linear passes over the row; only the ``topk`` chosen items are then sorted.
    (A per-row top-k over the whole database costs a heap pass of N log K instead.)
    """
    n, n_db = dist.shape
    counts = torch.zeros(n, int(dist.max()) + 2 if dist.numel() else 1, dtype=torch.int64,
                         device=dist.device)
    counts.scatter_add_(1, dist, torch.ones_like(dist))
    cum = counts.cumsum(1)
    threshold = (cum < topk).sum(1, keepdim=True)  # first distance whose cumulative count >= K
    before = torch.where(threshold > 0, cum.gather(1, (threshold - 1).clamp(min=0)), 0)
    at = dist == threshold
    take = (dist < threshold) | (at & (at.cumsum(1) <= topk - before))
    idx = take.nonzero()[:, 1].view(n, topk)  # row-major: each row's picks in index order
    key = dist.gather(1, idx) * n_db + idx
    return idx.gather(1, torch.argsort(key, dim=1))


@dataclass(frozen=True)
class APResult:
    """Per-query average precision and the number of relevant items retrieved within K."""

    ap: np.ndarray
    retrieved_relevant: np.ndarray

    def mean(self, zero_ap: ZeroAP = "count") -> float:
        """mAP: over all queries (``count``) or over queries with a hit in the top K (``skip``)."""
        if zero_ap == "skip":
            hit = self.retrieved_relevant > 0
            return float(self.ap[hit].mean()) if hit.any() else 0.0
        return float(self.ap.mean()) if self.ap.size else 0.0


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _chunk_size(n_db: int, budget: int = 2**25) -> int:
    """Queries per chunk so that one (chunk, n_db) int64 matrix stays near ``budget`` elements."""
    return max(1, min(1024, budget // max(n_db, 1)))


def average_precision(
    q_codes: torch.Tensor,
    db_codes: torch.Tensor,
    q_labels: torch.Tensor,
    db_labels: torch.Tensor,
    topk: int | None = None,
    ties: Ties = "index",
) -> APResult:
    """AP@K of every query (see the module docstring for the definition). ``ties="expected"``
    scores each group of equal distances by its expectation over every order within it
    (``hashbench.metrics.ties``) instead of by database index."""
    _check_shapes(q_codes, db_codes, q_labels, db_labels)
    q_codes, db_codes = binarize(q_codes), binarize(db_codes)
    if ties == "expected":
        from hashbench.metrics.ties import expected_average_precision  # needs numba

        q, db, ql, dbl = (t.detach().cpu().numpy() for t in (q_codes, db_codes, q_labels,
                                                               db_labels))
        ap, hit = expected_average_precision(q, db, ql, dbl, topk, _cpu_threads())
        return APResult(ap=ap, retrieved_relevant=hit)
    if q_codes.device.type == "cpu" and _cpu_kernel is not None:
        return _average_precision_cpu(q_codes, db_codes, q_labels, db_labels, topk)
    aps, hits = [], []
    for sl in _chunks(q_codes.shape[0], _chunk_size(db_codes.shape[0])):
        order = _ranking(q_codes[sl], db_codes, topk)
        rel = _ranked_relevance(q_labels[sl], db_labels, order).to(torch.float64)
        cum = torch.cumsum(rel, dim=1)
        ranks = torch.arange(1, rel.shape[1] + 1, dtype=torch.float64, device=rel.device)
        n_rel = cum[:, -1] if rel.shape[1] else torch.zeros(rel.shape[0], dtype=torch.float64)
        aps.append(((rel * cum / ranks).sum(dim=1) / n_rel.clamp(min=1)).cpu())
        hits.append(n_rel.cpu())
    return APResult(
        ap=torch.cat(aps).numpy() if aps else np.zeros(0),
        retrieved_relevant=torch.cat(hits).numpy().astype(np.int64) if hits
        else np.zeros(0, dtype=np.int64))


def _cpu_threads() -> int:
    import numba

    return numba.get_num_threads()


def _average_precision_cpu(q_codes, db_codes, q_labels, db_labels, topk) -> APResult:
    pack = _cpu_kernel.pack_bits
    ap, hit = _cpu_kernel.average_precision_packed(
        pack((q_codes > 0).numpy()), pack((db_codes > 0).numpy()),
        pack((q_labels > 0).cpu().numpy()), pack((db_labels > 0).cpu().numpy()),
        q_codes.shape[1], db_codes.shape[0] if topk is None else topk, _cpu_threads())
    return APResult(ap=ap, retrieved_relevant=hit)


def mean_average_precision(q_codes: torch.Tensor, db_codes: torch.Tensor, q_labels: torch.Tensor,
                           db_labels: torch.Tensor, topk: int | None = None,
                           zero_ap: ZeroAP = "count") -> float:
    """mAP@K. For t-mAP pass the target labels as ``q_labels``."""
    return average_precision(q_codes, db_codes, q_labels, db_labels, topk).mean(zero_ap)


@dataclass(frozen=True)
class PRCurve:
    """Mean precision and recall at each cutoff of the full Hamming ranking."""

    cutoffs: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


def random_ranking_map(q_labels: torch.Tensor, db_labels: torch.Tensor) -> float:
    """Expected mAP (full ranking) of a ranking drawn at random: each query's AP is then, in
    expectation, its fraction of relevant database items. The floor an attack pushes toward."""
    total = 0.0
    for sl in _chunks(q_labels.shape[0], _chunk_size(db_labels.shape[0])):
        total += float(relevance(q_labels[sl], db_labels).to(torch.float64).mean(1).sum())
    return total / max(q_labels.shape[0], 1)


def precision_recall_curve(
    q_codes: torch.Tensor,
    db_codes: torch.Tensor,
    q_labels: torch.Tensor,
    db_labels: torch.Tensor,
    cutoffs: np.ndarray | None = None,
) -> PRCurve:
    """Precision and recall at each cutoff (default: every position), averaged over queries.

    Queries with no relevant item in the database are left out of the average (their recall is
    undefined). Precision@N at the cutoffs is the P@N curve.
    """
    _check_shapes(q_codes, db_codes, q_labels, db_labels)
    n_db = db_codes.shape[0]
    cut = np.arange(1, n_db + 1) if cutoffs is None else np.asarray(cutoffs, dtype=np.int64)
    if cut.size and (cut.min() < 1 or cut.max() > n_db):
        raise ValueError(f"cutoffs must lie in [1, {n_db}]")
    q_codes, db_codes = binarize(q_codes), binarize(db_codes)
    if q_codes.device.type == "cpu" and _cpu_kernel is not None and cut.size:
        return _precision_recall_cpu(q_codes, db_codes, q_labels, db_labels, cut)
    cut_idx = torch.as_tensor(cut - 1, device=db_codes.device)
    p_sum = torch.zeros(cut.size, dtype=torch.float64)
    r_sum = torch.zeros(cut.size, dtype=torch.float64)
    counted = 0
    for sl in _chunks(q_codes.shape[0], _chunk_size(n_db)):
        order = _ranking(q_codes[sl], db_codes, None)
        rel = torch.gather(relevance(q_labels[sl], db_labels), 1, order)
        total = rel.sum(dim=1)
        keep = total > 0
        cum = torch.cumsum(rel[keep].to(torch.float64), dim=1)[:, cut_idx]
        p_sum += (cum / torch.as_tensor(cut, dtype=torch.float64, device=cum.device)).sum(0).cpu()
        r_sum += (cum / total[keep].unsqueeze(1)).sum(0).cpu()
        counted += int(keep.sum())
    denom = max(counted, 1)
    return PRCurve(cutoffs=cut, precision=(p_sum / denom).numpy(), recall=(r_sum / denom).numpy())


def _precision_recall_cpu(q_codes, db_codes, q_labels, db_labels, cut) -> PRCurve:
    pack = _cpu_kernel.pack_bits
    order = np.argsort(cut, kind="stable")  # the kernel walks the ranking once, cutoffs ascending
    p, r = _cpu_kernel.precision_recall_packed(
        pack((q_codes > 0).numpy()), pack((db_codes > 0).numpy()),
        pack((q_labels > 0).cpu().numpy()), pack((db_labels > 0).cpu().numpy()),
        q_codes.shape[1], cut[order].astype(np.int64), _cpu_threads())
    keep = ~np.isnan(r[:, 0]) if len(r) else np.zeros(0, dtype=bool)
    denom = max(int(keep.sum()), 1)
    precision, recall = np.empty(cut.size), np.empty(cut.size)
    precision[order] = p[keep].sum(0) / denom
    recall[order] = r[keep].sum(0) / denom
    return PRCurve(cutoffs=cut, precision=precision, recall=recall)


def precision_at(
    q_codes: torch.Tensor,
    db_codes: torch.Tensor,
    q_labels: torch.Tensor,
    db_labels: torch.Tensor,
    ns: list[int],
) -> np.ndarray:
    """P@N for each N in ``ns``, averaged over all queries."""
    _check_shapes(q_codes, db_codes, q_labels, db_labels)
    q_codes, db_codes = binarize(q_codes), binarize(db_codes)
    n_max = max(ns)
    if n_max > db_codes.shape[0]:
        raise ValueError(f"N={n_max} exceeds the database size {db_codes.shape[0]}")
    idx = torch.as_tensor([n - 1 for n in ns])
    total = torch.zeros(len(ns), dtype=torch.float64)
    for sl in _chunks(q_codes.shape[0], _chunk_size(db_codes.shape[0])):
        order = _ranking(q_codes[sl], db_codes, n_max)
        rel = torch.gather(relevance(q_labels[sl], db_labels), 1, order).to(torch.float64)
        total += (torch.cumsum(rel, 1)[:, idx] / (idx + 1)).sum(0).cpu()
    return (total / max(q_codes.shape[0], 1)).numpy()


def _check_shapes(q, db, ql, dbl) -> None:
    if q.ndim != 2 or db.ndim != 2 or q.shape[1] != db.shape[1]:
        raise ValueError(f"code shapes {tuple(q.shape)} and {tuple(db.shape)} do not match")
    if ql.shape[0] != q.shape[0] or dbl.shape[0] != db.shape[0] or ql.shape[1] != dbl.shape[1]:
        raise ValueError(
            f"label shapes {tuple(ql.shape)} / {tuple(dbl.shape)} do not match the codes"
        )
