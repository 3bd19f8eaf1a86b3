"""Tie-aware retrieval metrics: AP@K, precision and recall at cutoffs, and the random floor, as
their expected value over a uniformly random order within each group of items at the same
Hamming distance (McSherry and Najork, "Computing Information Retrieval Performance Measures
Efficiently in the Presence of Tied Scores", ECIR 2008).

Why: with K bits there are at most K + 1 distances, so a ranking of thousands of items is a
handful of tied groups. Breaking ties by database index (``hashbench.metrics``) scores a model
by where its relevant items happen to sit in the database file: a model whose every code is the
same scores 0.208 mAP on the embedded MNIST, whose database is stored sorted by label, against a
random floor of 0.10. The expectation removes the file order from the number: constant codes
score exactly the random floor.

Per query, with the groups in distance order, N items and R_b relevant ones ahead of a group of
n items holding r relevant ones, the expected sum of the precisions at the group's relevant
items is (r/n) sum_{j=1..n} (R_b + 1 + (j - 1)(r - 1)/(n - 1)) / (N + j): position j holds a
relevant item with probability r/n, and then each of the j - 1 positions before it one with
probability (r - 1)/(n - 1). With a cutoff K inside a group, the number m of relevant items among
its first K - N positions is hypergeometric, and AP@K (normalised by the relevant items retrieved)
is the expectation over m of that sum divided by R_b + m. Only IEEE additions, multiplications
and divisions, in a fixed order: the same bytes on every machine (the hypergeometric weights are
built by their ratio recurrence from the mode, never by exp or lgamma).

The kernels run over bit-packed codes like ``metrics_cpu`` (one pass over the database per
query, queries in parallel); ``tests/unit/test_metrics_ties.py`` holds them to the average over
every order within ties, enumerated.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from hashbench.metrics.cpu import _distances, _relevant, pack_bits


@nb.njit(inline="always")
def _group_sum(n_before, rel_before, length, rel, harmonic):
    """Expected sum of precisions at the relevant items of a group of ``length`` positions
    holding ``rel`` relevant items in uniform order, after ``n_before`` items of which
    ``rel_before`` relevant; ``harmonic`` = sum_{j=1..length} 1 / (n_before + j)."""
    if rel == 0:
        return 0.0
    b = (rel - 1.0) / (length - 1.0) if length > 1 else 0.0
    # sum_j (rel_before + 1 + (j - 1) b) / (N + j) = length b + (rel_before + 1 - b - b N) H
    return (rel / length) * (length * b + (rel_before + 1.0 - b - b * n_before) * harmonic)


@nb.njit(inline="always")
def _harmonic(n_before, length):
    total = 0.0
    for j in range(1, length + 1):
        total += 1.0 / (n_before + j)
    return total


@nb.njit(inline="always")
def _hypergeometric(n, rel, draws, weights):
    """P(m relevant among ``draws`` of ``n`` items holding ``rel``), for m = lo..hi, into
    ``weights[0 : hi - lo + 1]``; returns lo. Built from the mode outwards by the ratio
    P(m + 1) / P(m) = (rel - m)(draws - m) / ((m + 1)(n - rel - draws + m + 1)), then
    normalised: no factorial, exp or log."""
    lo = max(0, draws - (n - rel))
    hi = min(rel, draws)
    mode = min(max((draws + 1) * (rel + 1) // (n + 2), lo), hi)
    weights[mode - lo] = 1.0
    for m in range(mode, hi):
        weights[m + 1 - lo] = weights[m - lo] * ((rel - m) * (draws - m)) / \
            ((m + 1.0) * (n - rel - draws + m + 1.0))
    for m in range(mode, lo, -1):
        weights[m - 1 - lo] = weights[m - lo] * (m * (n - rel - draws + m)) / \
            ((rel - m + 1.0) * (draws - m + 1.0))
    total = 0.0
    for i in range(hi - lo + 1):
        total += weights[i]
    for i in range(hi - lo + 1):
        weights[i] /= total
    return lo


@nb.njit(inline="always")
def _group_counts(i, dist, q_labels, db_labels, counts, rel):
    counts[:] = 0
    rel[:] = 0
    for j in range(dist.shape[0]):
        d = dist[j]
        counts[d] += 1
        if _relevant(i, j, q_labels, db_labels):
            rel[d] += 1


@nb.njit(parallel=True, cache=True)
def expected_ap_packed(q_codes, db_codes, q_labels, db_labels, bits, topk, n_threads):
    """Expected AP@topk per query and the expected number of relevant items in its top
    ``topk`` (see the module docstring)."""
    n_q, n_db = q_codes.shape[0], db_codes.shape[0]
    k = min(topk, n_db)
    ap = np.zeros(n_q)
    hits_out = np.zeros(n_q)
    n_threads = max(1, min(n_threads, n_q))
    for t in nb.prange(n_threads):
        dist = np.empty(n_db, dtype=np.uint16)
        counts = np.empty(bits + 1, dtype=np.int64)
        rel = np.empty(bits + 1, dtype=np.int64)
        weights = np.empty(k + 1)
        for i in range(t, n_q, n_threads):
            _distances(i, q_codes, db_codes, dist)
            _group_counts(i, dist, q_labels, db_labels, counts, rel)
            n_before, rel_before, total = 0, 0, 0.0
            value, hits = -1.0, 0.0
            for d in range(bits + 1):
                n = counts[d]
                if n == 0:
                    continue
                r = rel[d]
                if n_before + n <= k:  # the whole group is within the top k
                    if r > 0:
                        total += _group_sum(n_before, rel_before, n, r,
                                            _harmonic(n_before, n))
                    n_before += n
                    rel_before += r
                    if n_before == k:
                        break
                    continue
                # the cutoff falls inside this group: m of its r relevant items are drawn
                draws = k - n_before
                harmonic = _harmonic(n_before, draws)
                lo = _hypergeometric(n, r, draws, weights)
                value = 0.0
                for m in range(lo, min(r, draws) + 1):
                    if rel_before + m == 0:
                        continue
                    last = _group_sum(n_before, rel_before, draws, m, harmonic)
                    value += weights[m - lo] * (total + last) / (rel_before + m)
                hits = rel_before + draws * (r / n)
                break
            if value < 0.0:  # no group was cut: the top k ends on a group boundary
                value = total / rel_before if rel_before > 0 else 0.0
                hits = float(rel_before)
            ap[i] = value
            hits_out[i] = hits
    return ap, hits_out


@nb.njit(parallel=True, cache=True)
def expected_precision_recall_packed(q_codes, db_codes, q_labels, db_labels, bits, cutoffs,
                                     n_threads):
    """Expected precision and recall at each cutoff (ascending) of the full ranking, per query
    (NaN recall where the query has no relevant item): the relevant items of the groups ahead
    of the cutoff, plus the cut group's share r/n of its positions taken."""
    n_q, n_db, n_cut = q_codes.shape[0], db_codes.shape[0], cutoffs.shape[0]
    precision = np.zeros((n_q, n_cut))
    recall = np.full((n_q, n_cut), np.nan)
    n_threads = max(1, min(n_threads, n_q))
    for t in nb.prange(n_threads):
        dist = np.empty(n_db, dtype=np.uint16)
        counts = np.empty(bits + 1, dtype=np.int64)
        rel = np.empty(bits + 1, dtype=np.int64)
        for i in range(t, n_q, n_threads):
            _distances(i, q_codes, db_codes, dist)
            _group_counts(i, dist, q_labels, db_labels, counts, rel)
            n_rel = 0
            for d in range(bits + 1):
                n_rel += rel[d]
            d, n_before, rel_before = 0, 0, 0
            for c in range(n_cut):
                cut = cutoffs[c]
                while n_before + counts[d] < cut:
                    n_before += counts[d]
                    rel_before += rel[d]
                    d += 1
                hits = rel_before + (cut - n_before) * (rel[d] / counts[d])
                precision[i, c] = hits / cut
                if n_rel > 0:
                    recall[i, c] = hits / n_rel
    return precision, recall


def expected_average_precision(q_codes: np.ndarray, db_codes: np.ndarray, q_labels: np.ndarray,
                               db_labels: np.ndarray, topk: int | None, n_threads: int = 1
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Per query: expected AP@topk (``None``: the whole ranking) and the expected relevant
    items retrieved, from +-1 (or boolean) codes and 0/1 label matrices."""
    bits = q_codes.shape[1]
    k = db_codes.shape[0] if topk is None else int(topk)
    return expected_ap_packed(pack_bits(q_codes > 0), pack_bits(db_codes > 0),
                              pack_bits(q_labels > 0), pack_bits(db_labels > 0), bits, k,
                              n_threads)


def expected_precision_recall(q_codes: np.ndarray, db_codes: np.ndarray, q_labels: np.ndarray,
                              db_labels: np.ndarray, cutoffs: np.ndarray, n_threads: int = 1
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Per query and cutoff (any order): expected precision and recall (NaN recall for a
    query with no relevant item)."""
    cutoffs = np.asarray(cutoffs, dtype=np.int64)
    order = np.argsort(cutoffs, kind="stable")
    p, r = expected_precision_recall_packed(
        pack_bits(q_codes > 0), pack_bits(db_codes > 0), pack_bits(q_labels > 0),
        pack_bits(db_labels > 0), q_codes.shape[1], cutoffs[order], n_threads)
    precision, recall = np.empty_like(p), np.empty_like(r)
    precision[:, order], recall[:, order] = p, r
    return precision, recall


def random_floor(n_relevant: np.ndarray, n_items: int) -> np.ndarray:
    """The expected AP (whole ranking) of a uniformly random ranking of ``n_items`` items of
    which ``n_relevant`` are relevant: (r - 1)/(n - 1) + H_n (n - r)/(n (n - 1)); 0 for r = 0,
    1 for n = r. (Not r/n, the fraction of relevant items, which it exceeds by the chance of a
    relevant item near the top.)"""
    r = np.asarray(n_relevant, dtype=np.float64)
    n = float(n_items)
    if n <= 1:
        return np.where(r > 0, 1.0, 0.0)
    h_n = float(np.sum(1.0 / np.arange(1, n_items + 1)))
    return np.where(r > 0, (r - 1) / (n - 1) + h_n * (n - r) / (n * (n - 1)), 0.0)
