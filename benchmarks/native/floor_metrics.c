/* The native floor for hashbench's CPU metrics (benchmarks/bench_metrics.py): the algorithm of
 * hashbench/metrics_cpu.py written in C with the hardware popcount, compiled -O3 -march=native,
 * OpenMP over queries, buffers once per thread. Codes and labels come bit-packed in 64-bit
 * words; distances fit in 16 bits.
 *
 *   ap_packed:  AP over the first k of the (Hamming distance, database index) ranking
 *   pr_packed:  precision and recall at ascending cutoffs of the full ranking
 *
 * Per query: distances (a vectorised loop), their histogram (four interleaved partial
 * histograms), the relevant items of the top k with their position among the items at their
 * distance, a counting sort of just those by distance, and the sum over them in ranking order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef struct {
    uint16_t *dist; int64_t *counts, *sub, *seen, *rel_counts, *rel_start, *fill;
    int32_t *rel_d; int64_t *rel_p, *ranked_p;
} buffers;

static buffers alloc(int64_t n_db, int bits) {
    buffers b;
    int64_t nb = bits + 1;
    b.dist = malloc(sizeof(uint16_t) * n_db);
    b.counts = malloc(sizeof(int64_t) * nb); b.sub = malloc(sizeof(int64_t) * 4 * nb);
    b.seen = malloc(sizeof(int64_t) * nb); b.rel_counts = malloc(sizeof(int64_t) * nb);
    b.rel_start = malloc(sizeof(int64_t) * nb); b.fill = malloc(sizeof(int64_t) * nb);
    b.rel_d = malloc(sizeof(int32_t) * (n_db + 1)); b.rel_p = malloc(sizeof(int64_t) * (n_db + 1));
    b.ranked_p = malloc(sizeof(int64_t) * (n_db + 1));
    return b;
}

static void release(buffers b) {
    free(b.dist); free(b.counts); free(b.sub); free(b.seen); free(b.rel_counts);
    free(b.rel_start); free(b.fill); free(b.rel_d); free(b.rel_p); free(b.ranked_p);
}

static void distances(const uint64_t *restrict q, const uint64_t *restrict db, int64_t n_db,
                      int64_t wq, uint16_t *restrict dist) {
    if (wq == 1) {
        const uint64_t qw = q[0];
        for (int64_t j = 0; j < n_db; j++) dist[j] = (uint16_t)__builtin_popcountll(qw ^ db[j]);
    } else {
        for (int64_t j = 0; j < n_db; j++) {
            int s = 0;
            for (int64_t w = 0; w < wq; w++) s += __builtin_popcountll(q[w] ^ db[j * wq + w]);
            dist[j] = (uint16_t)s;
        }
    }
}

static inline int relevant(const uint64_t *restrict ql, const uint64_t *restrict dbl, int64_t j,
                           int64_t wl) {
    for (int64_t w = 0; w < wl; w++) if (ql[w] & dbl[j * wl + w]) return 1;
    return 0;
}

static void histogram(const uint16_t *restrict dist, int64_t n_db, int nb, int64_t *restrict sub,
                      int64_t *restrict counts) {
    memset(sub, 0, sizeof(int64_t) * 4 * nb);
    int64_t n4 = n_db - n_db % 4;
    for (int64_t j = 0; j < n4; j += 4) {
        sub[dist[j]]++; sub[nb + dist[j + 1]]++; sub[2 * nb + dist[j + 2]]++;
        sub[3 * nb + dist[j + 3]]++;
    }
    for (int64_t j = n4; j < n_db; j++) sub[dist[j]]++;
    for (int v = 0; v < nb; v++) counts[v] = sub[v] + sub[nb + v] + sub[2 * nb + v] + sub[3 * nb + v];
}

/* every item in (the full ranking), fused with the histogram, branch-free */
static int64_t scan_all(const uint16_t *restrict dist, int64_t n_db, int nb,
                        const uint64_t *restrict ql, const uint64_t *restrict dbl, int64_t wl,
                        buffers *b) {
    int64_t *sub = b->sub;
    memset(sub, 0, sizeof(int64_t) * 4 * nb);
    int64_t n_rel = 0;
    for (int64_t j = 0; j < n_db; j++) {
        int d = dist[j];
        int r = relevant(ql, dbl, j, wl);
        b->rel_d[n_rel] = d;
        b->rel_p[n_rel] = sub[d] + sub[nb + d] + sub[2 * nb + d] + sub[3 * nb + d];
        n_rel += r;
        sub[(j & 3) * nb + d]++;
    }
    for (int v = 0; v < nb; v++)
        b->counts[v] = sub[v] + sub[nb + v] + sub[2 * nb + v] + sub[3 * nb + v];
    memset(b->rel_counts, 0, sizeof(int64_t) * nb);
    for (int64_t r = 0; r < n_rel; r++) b->rel_counts[b->rel_d[r]]++;
    return n_rel;
}

static int64_t select_top(const uint16_t *restrict dist, int64_t n_db, int nb, int threshold,
                          int64_t need, const uint64_t *restrict ql,
                          const uint64_t *restrict dbl, int64_t wl, buffers *b) {
    memset(b->seen, 0, sizeof(int64_t) * nb);
    memset(b->rel_counts, 0, sizeof(int64_t) * nb);
    int64_t n_rel = 0, taken = 0;
    for (int64_t j = 0; j < n_db; j++) {
        int d = dist[j];
        if (d > threshold) continue;
        if (d == threshold) { if (taken >= need) continue; taken++; }
        int64_t p = b->seen[d]++;
        if (relevant(ql, dbl, j, wl)) {
            b->rel_d[n_rel] = d; b->rel_p[n_rel] = p; b->rel_counts[d]++; n_rel++;
        }
    }
    return n_rel;
}

static void by_distance(int64_t n_rel, int nb, buffers *b) {
    int64_t acc = 0;
    for (int v = 0; v < nb; v++) { b->rel_start[v] = acc; b->fill[v] = acc; acc += b->rel_counts[v]; }
    for (int64_t r = 0; r < n_rel; r++) b->ranked_p[b->fill[b->rel_d[r]]++] = b->rel_p[r];
}

void ap_packed(const uint64_t *q, const uint64_t *db, const uint64_t *ql, const uint64_t *dbl,
               int64_t n_q, int64_t n_db, int64_t wq, int64_t wl, int bits, int64_t k,
               double *ap) {
    if (k > n_db) k = n_db;
    int nb = bits + 1;
    #pragma omp parallel
    {
        buffers b = alloc(n_db, bits);
        #pragma omp for schedule(static, 1)
        for (int64_t i = 0; i < n_q; i++) {
            distances(q + i * wq, db, n_db, wq, b.dist);
            int64_t n_rel;
            int threshold;
            if (k == n_db) {
                n_rel = scan_all(b.dist, n_db, nb, ql + i * wl, dbl, wl, &b);
                threshold = bits;
            } else {
                histogram(b.dist, n_db, nb, b.sub, b.counts);
                int64_t before = 0;
                threshold = 0;
                while (before + b.counts[threshold] < k) before += b.counts[threshold++];
                n_rel = select_top(b.dist, n_db, nb, threshold, k - before, ql + i * wl, dbl, wl, &b);
            }
            by_distance(n_rel, nb, &b);
            int64_t hits = 0, before = 0;
            double total = 0.0;
            for (int v = 0; v <= threshold; v++) {
                for (int64_t r = b.rel_start[v]; r < b.rel_start[v] + b.rel_counts[v]; r++) {
                    hits++;
                    total += (double)hits / ((double)(before + b.ranked_p[r]) + 1.0);
                }
                before += b.counts[v];
            }
            ap[i] = hits ? total / (double)hits : 0.0;
        }
        release(b);
    }
}

void pr_packed(const uint64_t *q, const uint64_t *db, const uint64_t *ql, const uint64_t *dbl,
               int64_t n_q, int64_t n_db, int64_t wq, int64_t wl, int bits,
               const int64_t *cutoffs, int64_t n_cut, double *precision, double *recall) {
    int nb = bits + 1;
    #pragma omp parallel
    {
        buffers b = alloc(n_db, bits);
        #pragma omp for schedule(static, 1)
        for (int64_t i = 0; i < n_q; i++) {
            distances(q + i * wq, db, n_db, wq, b.dist);
            int64_t n_rel = scan_all(b.dist, n_db, nb, ql + i * wl, dbl, wl, &b);
            by_distance(n_rel, nb, &b);
            int v = 0;
            int64_t before = 0;
            for (int64_t c = 0; c < n_cut; c++) {
                int64_t cut = cutoffs[c];
                while (before + b.counts[v] < cut) before += b.counts[v++];
                int64_t lo = b.rel_start[v], hi = b.rel_start[v] + b.rel_counts[v];
                int64_t room = cut - before;
                while (lo < hi) {
                    int64_t mid = (lo + hi) / 2;
                    if (b.ranked_p[mid] < room) lo = mid + 1; else hi = mid;
                }
                precision[i * n_cut + c] = (double)lo / (double)cut;
                recall[i * n_cut + c] = n_rel ? (double)lo / (double)n_rel : NAN;
            }
        }
        release(b);
    }
}
