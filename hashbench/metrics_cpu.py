"""The CPU kernel behind ``hashbench.metrics.average_precision``: one pass per query over
bit-packed codes, no sort of the database.

Per query: Hamming distances by XOR + popcount on 64-bit words, a histogram of the distances
(integers 0..K), the threshold distance of the top K from it, then a counting sort of just the
top K by (distance, database index), which is the ranking the metric defines, and AP over it.
Queries run in parallel (numba ``prange``). The torch path in ``metrics`` stays the reference
and serves CUDA tensors; tests hold both to a brute-force ranking.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


def pack_bits(matrix: np.ndarray) -> np.ndarray:
    """(n, B) booleans -> (n, ceil(B/64)) uint64 words (bit b of word w = column 64w + b)."""
    n, width = matrix.shape
    words = max(1, -(-width // 64))
    padded = np.zeros((n, words * 64), dtype=np.uint8)
    padded[:, :width] = matrix
    # bit order inside each byte and byte order inside each word do not matter: both sides
    # of every XOR / AND are packed the same way
    return np.packbits(padded, axis=1).view(np.uint64).reshape(n, words)


@nb.njit(inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@nb.njit(inline="always")
def _distance_histogram(i, q_codes, db_codes, dist, counts):
    """Hamming distances of query i to every database code into ``dist``; their histogram
    into ``counts``."""
    if q_codes.shape[1] == 1:  # up to 64 bits: one word, no inner loop
        qw = q_codes[i, 0]
        for j in range(db_codes.shape[0]):
            s = _popcount(qw ^ db_codes[j, 0])
            dist[j] = s
            counts[s] += 1
    else:
        for j in range(db_codes.shape[0]):
            s = np.uint64(0)
            for w in range(q_codes.shape[1]):
                s += _popcount(q_codes[i, w] ^ db_codes[j, w])
            dist[j] = s
            counts[s] += 1


@nb.njit(parallel=True, cache=True)
def average_precision_packed(q_codes, db_codes, q_labels, db_labels, bits, topk):
    """AP@topk and the relevant count retrieved, per query (see ``metrics``'s definition)."""
    n_q, n_db = q_codes.shape[0], db_codes.shape[0]
    k = min(topk, n_db)
    ap = np.zeros(n_q)
    hits_out = np.zeros(n_q, dtype=np.int64)
    for i in nb.prange(n_q):
        dist = np.empty(n_db, dtype=np.int32)
        counts = np.zeros(bits + 1, dtype=np.int64)
        _distance_histogram(i, q_codes, db_codes, dist, counts)
        threshold, before = 0, 0
        while before + counts[threshold] < k:
            before += counts[threshold]
            threshold += 1
        need = k - before
        start = np.empty(threshold + 1, dtype=np.int64)
        acc = 0
        for v in range(threshold + 1):
            start[v] = acc
            acc += counts[v]
        order = np.empty(k, dtype=np.int64)
        taken = 0
        for j in range(n_db):  # index order within a distance: the metric's tie-break
            v = dist[j]
            if v < threshold or (v == threshold and taken < need):
                order[start[v]] = j
                start[v] += 1
                if v == threshold:
                    taken += 1
        hits, total = 0, 0.0
        for r in range(k):
            j = order[r]
            for w in range(q_labels.shape[1]):
                if q_labels[i, w] & db_labels[j, w]:
                    hits += 1
                    total += hits / (r + 1.0)
                    break
        ap[i] = total / hits if hits > 0 else 0.0
        hits_out[i] = hits
    return ap, hits_out


@nb.njit(parallel=True, cache=True)
def precision_recall_packed(q_codes, db_codes, q_labels, db_labels, bits, cutoffs):
    """Per query, precision and recall at each cutoff of the full ranking (NaN recall when
    the query has no relevant item; the caller leaves those out of the mean)."""
    n_q, n_db, n_cut = q_codes.shape[0], db_codes.shape[0], cutoffs.shape[0]
    precision = np.zeros((n_q, n_cut))
    recall = np.full((n_q, n_cut), np.nan)
    for i in nb.prange(n_q):
        dist = np.empty(n_db, dtype=np.int32)
        rel = np.zeros(n_db, dtype=np.bool_)
        counts = np.zeros(bits + 1, dtype=np.int64)
        _distance_histogram(i, q_codes, db_codes, dist, counts)
        total = 0
        for j in range(n_db):
            for w in range(q_labels.shape[1]):
                if q_labels[i, w] & db_labels[j, w]:
                    rel[j] = True
                    total += 1
                    break
        start = np.empty(bits + 1, dtype=np.int64)
        acc = 0
        for v in range(bits + 1):
            start[v] = acc
            acc += counts[v]
        ranked_rel = np.empty(n_db, dtype=np.bool_)  # counting sort: (distance, index) order
        for j in range(n_db):
            ranked_rel[start[dist[j]]] = rel[j]
            start[dist[j]] += 1
        c, hits = 0, 0
        for r in range(n_db):
            if ranked_rel[r]:
                hits += 1
            while c < n_cut and cutoffs[c] == r + 1:
                precision[i, c] = hits / (r + 1.0)
                if total > 0:
                    recall[i, c] = hits / total
                c += 1
    return precision, recall
