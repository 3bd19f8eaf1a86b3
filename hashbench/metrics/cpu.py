"""The CPU kernel behind ``hashbench.metrics.average_precision``: one pass per query over
bit-packed codes, no sort of the database.

Per query: one pass over the database (Hamming distance by XOR + popcount on 64-bit words, the
histogram of the distances, integers 0..K, and the relevant items with their position among the
items at their distance); the metric is then a sum over the relevant items alone, whose ranks in
the (distance, database index) order follow from the histogram. Nothing of database size is
sorted or scattered.
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
def _distances(i, q_codes, db_codes, dist):
    """Hamming distances of query i to every database code, into ``dist`` (a loop LLVM
    vectorises: no branch, no histogram)."""
    if q_codes.shape[1] == 1:  # up to 64 bits: one word, no inner loop
        qw = q_codes[i, 0]
        for j in range(db_codes.shape[0]):
            dist[j] = _popcount(qw ^ db_codes[j, 0])
    else:
        for j in range(db_codes.shape[0]):
            s = np.uint64(0)
            for w in range(q_codes.shape[1]):
                s += _popcount(q_codes[i, w] ^ db_codes[j, w])
            dist[j] = s


@nb.njit(inline="always")
def _histogram(dist, counts, sub):
    """``counts`` = the histogram of ``dist``. Four interleaved partial histograms (``sub``), so
    that consecutive items never wait on the same counter's last increment."""
    sub[:, :] = 0
    n4 = dist.shape[0] - dist.shape[0] % 4
    for j in range(0, n4, 4):
        sub[0, dist[j]] += 1
        sub[1, dist[j + 1]] += 1
        sub[2, dist[j + 2]] += 1
        sub[3, dist[j + 3]] += 1
    for j in range(n4, dist.shape[0]):
        sub[0, dist[j]] += 1
    for v in range(counts.shape[0]):
        counts[v] = sub[0, v] + sub[1, v] + sub[2, v] + sub[3, v]


@nb.njit(inline="always")
def _relevant(i, j, q_labels, db_labels):
    for w in range(q_labels.shape[1]):
        if q_labels[i, w] & db_labels[j, w]:
            return True
    return False


@nb.njit(inline="always")
def _select_relevant(i, dist, q_labels, db_labels, threshold, need, seen, rel_counts, rel_d,
                     rel_p):
    """The relevant items among the ranking's first items (every item nearer than
    ``threshold``, and the first ``need`` at it in index order), in index order, each with its
    distance and its position among the items at that distance. Returns how many."""
    seen[:] = 0
    rel_counts[:] = 0
    n_rel, taken = 0, 0
    for j in range(dist.shape[0]):
        d = dist[j]
        if d > threshold:
            continue
        if d == threshold:
            if taken >= need:
                continue
            taken += 1
        p = seen[d]
        seen[d] = p + 1
        if _relevant(i, j, q_labels, db_labels):
            rel_d[n_rel] = d
            rel_p[n_rel] = p
            rel_counts[d] += 1
            n_rel += 1
    return n_rel


@nb.njit(inline="always")
def _scan_all(i, dist, q_labels, db_labels, counts, sub, rel_d, rel_p):
    """The full ranking's case of ``_select_relevant`` (every item is in), fused with the
    histogram: branch-free, with four interleaved partial histograms whose sum at item j is the
    number of earlier items at each distance, hence a relevant item's position at its own.
    ``rel_d`` and ``rel_p`` need room for one more entry than the database."""
    sub[:, :] = 0
    n_rel = 0
    one_word = q_labels.shape[1] == 1
    for j in range(dist.shape[0]):
        u = j & 3
        d = dist[j]
        if one_word:
            r = 1 if q_labels[i, 0] & db_labels[j, 0] else 0
        else:
            r = 1 if _relevant(i, j, q_labels, db_labels) else 0
        rel_d[n_rel] = d
        rel_p[n_rel] = sub[0, d] + sub[1, d] + sub[2, d] + sub[3, d]
        n_rel += r
        sub[u, d] += 1
    for v in range(counts.shape[0]):
        counts[v] = sub[0, v] + sub[1, v] + sub[2, v] + sub[3, v]
    return n_rel


@nb.njit(inline="always")
def _counts_of(n_rel, rel_d, rel_counts):
    rel_counts[:] = 0
    for r in range(n_rel):
        rel_counts[rel_d[r]] += 1


@nb.njit(inline="always")
def _by_distance(n_rel, rel_d, rel_p, rel_counts, rel_start, fill, ranked_p):
    """Counting sort of the relevant items by distance (index order within a distance, which
    the selection kept): ``ranked_p`` lists their positions distance after distance,
    ``rel_start`` where each distance's run begins."""
    acc = 0
    for v in range(rel_counts.shape[0]):
        rel_start[v] = acc
        fill[v] = acc
        acc += rel_counts[v]
    for r in range(n_rel):
        v = rel_d[r]
        ranked_p[fill[v]] = rel_p[r]
        fill[v] += 1


@nb.njit(parallel=True, cache=True)
def average_precision_packed(q_codes, db_codes, q_labels, db_labels, bits, topk, n_threads):
    """AP@topk and the relevant count retrieved, per query (see ``metrics``'s definition).

    Per query: the distances, their histogram, the threshold distance of the top k, one pass
    that keeps the relevant items of the top k with their position at their distance, then a
    sum over those alone (an item's rank is the count of nearer items plus its position).
    Nothing of database size is sorted or scattered; terms are summed in ranking order, as a
    sort-based AP sums them. Buffers are allocated once per thread."""
    n_q, n_db = q_codes.shape[0], db_codes.shape[0]
    k = min(topk, n_db)
    ap = np.zeros(n_q)
    hits_out = np.zeros(n_q, dtype=np.int64)
    n_threads = max(1, min(n_threads, n_q))  # the caller's numba.get_num_threads()
    for t in nb.prange(n_threads):
        dist = np.empty(n_db, dtype=np.uint16)
        counts = np.empty(bits + 1, dtype=np.int64)
        sub = np.empty((4, bits + 1), dtype=np.int64)
        seen = np.empty(bits + 1, dtype=np.int64)
        rel_counts = np.empty(bits + 1, dtype=np.int64)
        rel_start = np.empty(bits + 1, dtype=np.int64)
        fill = np.empty(bits + 1, dtype=np.int64)
        rel_d = np.empty(k + 1, dtype=np.int32)
        rel_p = np.empty(k + 1, dtype=np.int64)
        ranked_p = np.empty(k, dtype=np.int64)
        for i in range(t, n_q, n_threads):
            _distances(i, q_codes, db_codes, dist)
            if k == n_db:  # the full ranking: one fused pass
                n_rel = _scan_all(i, dist, q_labels, db_labels, counts, sub, rel_d, rel_p)
                _counts_of(n_rel, rel_d, rel_counts)
                threshold = bits
            else:
                _histogram(dist, counts, sub)
                threshold, before = 0, 0
                while before + counts[threshold] < k:
                    before += counts[threshold]
                    threshold += 1
                n_rel = _select_relevant(i, dist, q_labels, db_labels, threshold, k - before,
                                         seen, rel_counts, rel_d, rel_p)
            _by_distance(n_rel, rel_d, rel_p, rel_counts, rel_start, fill, ranked_p)
            hits, total, before = 0, 0.0, 0  # before: items ranked ahead of distance v
            for v in range(threshold + 1):
                for r in range(rel_start[v], rel_start[v] + rel_counts[v]):
                    hits += 1
                    total += hits / (before + ranked_p[r] + 1.0)
                before += counts[v]
            ap[i] = total / hits if hits > 0 else 0.0
            hits_out[i] = hits
    return ap, hits_out


@nb.njit(parallel=True, cache=True)
def precision_recall_packed(q_codes, db_codes, q_labels, db_labels, bits, cutoffs, n_threads):
    """Per query, precision and recall at each cutoff of the full ranking (NaN recall when
    the query has no relevant item; the caller leaves those out of the mean). ``cutoffs``
    ascending. The relevant items within the first c ranks are those of the nearer distances
    plus, at the distance where rank c falls, those at a position below what is left of c:
    a binary search in that distance's (ascending) positions."""
    n_q, n_db, n_cut = q_codes.shape[0], db_codes.shape[0], cutoffs.shape[0]
    precision = np.zeros((n_q, n_cut))
    recall = np.full((n_q, n_cut), np.nan)
    n_threads = max(1, min(n_threads, n_q))  # the caller's numba.get_num_threads()
    for t in nb.prange(n_threads):
        dist = np.empty(n_db, dtype=np.uint16)
        counts = np.empty(bits + 1, dtype=np.int64)
        sub = np.empty((4, bits + 1), dtype=np.int64)
        rel_counts = np.empty(bits + 1, dtype=np.int64)
        rel_start = np.empty(bits + 1, dtype=np.int64)
        fill = np.empty(bits + 1, dtype=np.int64)
        rel_d = np.empty(n_db + 1, dtype=np.int32)
        rel_p = np.empty(n_db + 1, dtype=np.int64)
        ranked_p = np.empty(n_db, dtype=np.int64)
        for i in range(t, n_q, n_threads):
            _distances(i, q_codes, db_codes, dist)
            n_rel = _scan_all(i, dist, q_labels, db_labels, counts, sub, rel_d, rel_p)
            _counts_of(n_rel, rel_d, rel_counts)
            _by_distance(n_rel, rel_d, rel_p, rel_counts, rel_start, fill, ranked_p)
            v, before = 0, 0  # the distance where the current cutoff falls, items ahead of it
            for c in range(n_cut):
                cut = cutoffs[c]
                while before + counts[v] < cut:
                    before += counts[v]
                    v += 1
                lo, hi = rel_start[v], rel_start[v] + rel_counts[v]
                room = cut - before
                while lo < hi:  # relevant items at distance v with position < room
                    mid = (lo + hi) // 2
                    if ranked_p[mid] < room:
                        lo = mid + 1
                    else:
                        hi = mid
                hits = lo  # rel_start[v] relevant items ahead, plus lo - rel_start[v] at v
                precision[i, c] = hits / (cut + 0.0)
                if n_rel > 0:
                    recall[i, c] = hits / n_rel
    return precision, recall
