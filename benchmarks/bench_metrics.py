"""hashbench's CPU metrics at NUS-WIDE scale against the DeepHash-pytorch anchors and a native
floor kernel, in one process.

    python benchmarks/bench_metrics.py [--queries 2100] [--database 193734] [--bits 32 64]
        [--topk 5000] [--loop-queries 100] [--scaling] [--no-native]

Anchors, as DeepHash-pytorch (utils/tools.py) computes them, re-written here from their
description (one query at a time: Hamming distance by a dot product, ``np.argsort``, a gather):
``CalcTopMap`` for mAP@K, the same with K = the database for the full-ranking mAP, and
``pr_curve`` (argsort of every row, then precision and recall at each cutoff of its
``draw_range``). They run on the first --loop-queries queries and their time is scaled to all
queries (they are linear in the queries). Their values are checked against hashbench's on those
queries with a stable sort (ties by database index, hashbench's ranking), to 1e-9.

The native floor: ``benchmarks/native/floor_metrics.c``, the same computation in C (hardware
popcount, -O3 -march=native, OpenMP over queries), compiled with the system's cc here.

``--scaling`` also times hashbench's three metrics against database size (10k to 1M) and query
count (100 to 10k) and writes ``benchmarks/metrics_scaling.{csv,png}``.
The PR curve's peak memory is measured in a fresh process (its resident high-water mark, torch
and the data included).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hashbench.metrics import average_precision, binarize, precision_recall_curve
from hashbench.metrics.cpu import pack_bits

HERE = Path(__file__).resolve().parent
# DeepHash-pytorch's PR cutoffs (utils/tools.py draw_range)
DRAW_RANGE = np.array([1] + list(range(500, 10_001, 500)), dtype=np.int64)


def hamming(qi: np.ndarray, db: np.ndarray) -> np.ndarray:
    return 0.5 * (db.shape[1] - qi @ db.T)


def anchor_map(q, db, ql, dbl, topk, kind="quicksort"):
    """CalcTopMap: per query, relevance, distances, argsort, AP over the first topk."""
    aps = np.zeros(len(q))
    for i in range(len(q)):
        gnd = (ql[i] @ dbl.T > 0).astype(np.float32)
        order = np.argsort(hamming(q[i], db), kind=kind)
        tgnd = gnd[order][:topk]
        tsum = int(tgnd.sum())
        if tsum:
            count = np.linspace(1, tsum, tsum)
            tindex = np.flatnonzero(tgnd == 1) + 1.0
            aps[i] = np.mean(count / tindex)
    return aps


def anchor_pr(q, db, ql, dbl, cutoffs, kind="quicksort"):
    """pr_curve: relevance and argsort of every row, then per cutoff and query, precision and
    recall of the first k (queries without a relevant item count 0, as DeepHash's loop leaves
    them; hashbench leaves them out of the mean, so values are compared per query)."""
    gnd_all = (ql @ dbl.T > 0).astype(np.float32 if kind == "quicksort" else np.float64)
    rank = np.argsort(0.5 * (db.shape[1] - q @ db.T), axis=1, kind=kind)
    p = np.zeros((len(q), len(cutoffs)))
    r = np.full((len(q), len(cutoffs)), np.nan)
    for c, k in enumerate(cutoffs):
        for it in range(len(q)):
            gnd = gnd_all[it]
            total = gnd.sum()
            if total == 0:
                continue
            got = gnd[rank[it][:k]].sum()
            p[it, c] = got / k
            r[it, c] = got / total
    return p, r


class Native:
    """The C floor kernel, compiled on first use."""

    def __init__(self):
        out = Path(tempfile.mkdtemp(prefix="hashbench-floor-")) / "floor_metrics.so"
        cmd = ["cc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC",
               str(HERE / "native" / "floor_metrics.c"), "-o", str(out), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True)
        self.lib = ctypes.CDLL(str(out))
        self.threads = torch.get_num_threads()

    @staticmethod
    def _ptr(a: np.ndarray):
        return a.ctypes.data_as(ctypes.c_void_p)

    def _packed(self, q, db, ql, dbl):
        arrays = [np.ascontiguousarray(pack_bits(x)) for x in
                  ((binarize(q) > 0).numpy(), (binarize(db) > 0).numpy(),
                   (ql > 0).numpy(), (dbl > 0).numpy())]
        return arrays

    def ap(self, q, db, ql, dbl, topk):
        os.environ["OMP_NUM_THREADS"] = str(self.threads)
        pq, pdb, pql, pdbl = self._packed(q, db, ql, dbl)
        out = np.zeros(len(pq))
        i64 = ctypes.c_int64
        self.lib.ap_packed(self._ptr(pq), self._ptr(pdb), self._ptr(pql), self._ptr(pdbl),
                           i64(len(pq)), i64(len(pdb)), i64(pq.shape[1]), i64(pql.shape[1]),
                           ctypes.c_int(q.shape[1]), i64(topk), self._ptr(out))
        return out

    def pr(self, q, db, ql, dbl, cutoffs):
        pq, pdb, pql, pdbl = self._packed(q, db, ql, dbl)
        cut = np.ascontiguousarray(cutoffs, dtype=np.int64)
        p = np.zeros((len(pq), len(cut)))
        r = np.zeros((len(pq), len(cut)))
        i64 = ctypes.c_int64
        self.lib.pr_packed(self._ptr(pq), self._ptr(pdb), self._ptr(pql), self._ptr(pdbl),
                           i64(len(pq)), i64(len(pdb)), i64(pq.shape[1]), i64(pql.shape[1]),
                           ctypes.c_int(q.shape[1]), self._ptr(cut), i64(len(cut)),
                           self._ptr(p), self._ptr(r))
        return p, r


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def data(n_q: int, n_db: int, bits: int, labels: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ql = (torch.rand(n_q, labels, generator=g) < 0.1).float()
    dbl = (torch.rand(n_db, labels, generator=g) < 0.1).float()
    q = torch.randn(n_q, bits, generator=g).sign()
    db = torch.randn(n_db, bits, generator=g).sign()
    return q, db, ql, dbl


def pr_per_query(q, db, ql, dbl, cutoffs):
    """hashbench's per-query precision and recall (the kernel behind precision_recall_curve)."""
    from hashbench.metrics.cpu import precision_recall_packed

    return precision_recall_packed(pack_bits((binarize(q) > 0).numpy()),
                                   pack_bits((binarize(db) > 0).numpy()),
                                   pack_bits((ql > 0).numpy()), pack_bits((dbl > 0).numpy()),
                                   q.shape[1], np.asarray(cutoffs, dtype=np.int64),
                                   torch.get_num_threads())


def pr_peak_mib(n_q: int, n_db: int, bits: int, labels: int) -> float:
    """Peak resident memory of a fresh process that computes the 100-cutoff PR curve."""
    code = (f"import resource, numpy as np, sys; sys.path.insert(0, {str(HERE)!r});"
            "from bench_metrics import data; from hashbench.metrics import precision_recall_curve;"
            f"q, db, ql, dbl = data({n_q}, {n_db}, {bits}, {labels});"
            f"cut = np.unique(np.linspace(1, {n_db}, 100).round().astype(np.int64));"
            "precision_recall_curve(q[:2], db[:3], ql[:2], dbl[:3], np.array([1, 2]));"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
            "precision_recall_curve(q, db, ql, dbl, cut);"
            "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    before, after = map(float, done.stdout.strip().splitlines()[-1].split())
    return before, after


def compare(args) -> None:
    native = None if args.no_native else Native()
    t = time.perf_counter()  # the CPU kernels compile (or load their cache) once per process
    average_precision(torch.ones(2, 8), torch.ones(3, 8), torch.ones(2, 1), torch.ones(3, 1), 2)
    precision_recall_curve(torch.ones(2, 8), torch.ones(3, 8), torch.ones(2, 1),
                           torch.ones(3, 1), np.array([1, 2]))
    print(f"kernel warm-up (compile or cache load, once per process): "
          f"{time.perf_counter() - t:.2f} s")
    print(f"{args.queries} queries x {args.database} database, {args.labels} labels, "
          f"{torch.get_num_threads()} threads; anchors timed on {args.loop_queries} queries and "
          "scaled; best of 3")
    print("| bits | metric | anchor (s) | speed-up | anchor, stable sort (s) | speed-up | "
          "hashbench (s) | native floor (s) | hashbench / floor | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    n_loop = min(args.loop_queries, args.queries)
    scale = args.queries / n_loop
    for bits in args.bits:
        q, db, ql, dbl = data(args.queries, args.database, bits, args.labels)
        nq, ndb, nql, ndbl = (x.numpy() for x in (q[:n_loop], db, ql[:n_loop], dbl))
        rows = []
        for metric, k in (("mAP@K", args.topk), ("full-ranking mAP", args.database)):
            anchor_s, _ = best_of(lambda: anchor_map(nq, ndb, nql, ndbl, k), 1)
            stable_s, ref = best_of(lambda: anchor_map(nq, ndb, nql, ndbl, k, kind="stable"), 1)
            ours_s, got = best_of(lambda: average_precision(q, db, ql, dbl, k))
            diff = float(np.abs(got.ap[:n_loop] - ref).max())
            floor_s = best_of(lambda: native.ap(q, db, ql, dbl, k))[0] if native else None
            rows.append((metric, anchor_s * scale, stable_s * scale, ours_s, floor_s, diff))
        anchor_s, _ = best_of(lambda: anchor_pr(nq, ndb, nql, ndbl, DRAW_RANGE), 1)
        stable_s, (ref_p, ref_r) = best_of(
            lambda: anchor_pr(nq, ndb, nql, ndbl, DRAW_RANGE, kind="stable"), 1)
        ours_s, _ = best_of(lambda: precision_recall_curve(q, db, ql, dbl, DRAW_RANGE))
        got_p, got_r = pr_per_query(q[:n_loop], db, ql[:n_loop], dbl, DRAW_RANGE)
        has = ~np.isnan(ref_r[:, 0])
        diff = max(float(np.abs(got_p[has] - ref_p[has]).max()),
                   float(np.abs(got_r[has] - ref_r[has]).max()))
        floor_s = best_of(lambda: native.pr(q, db, ql, dbl, DRAW_RANGE))[0] if native else None
        rows.append((f"PR curve ({len(DRAW_RANGE)} cutoffs)", anchor_s * scale,
                     stable_s * scale, ours_s, floor_s, diff))
        for metric, a, st, o, f, d in rows:
            floor = f"{f:.3f}" if f is not None else "-"
            ratio = f"{o / f:.2f}x" if f is not None else "-"
            print(f"| {bits} | {metric} | {a:.1f} | {a / o:.0f}x | {st:.1f} | {st / o:.0f}x | "
                  f"{o:.3f} | {floor} | {ratio} | {d:.1e} |")
    cut = np.unique(np.linspace(1, args.database, 100).round().astype(np.int64))
    q, db, ql, dbl = data(args.queries, args.database, 64, args.labels)
    pr100_s, _ = best_of(lambda: precision_recall_curve(q, db, ql, dbl, cut))
    before, after = pr_peak_mib(args.queries, args.database, 64, args.labels)
    print(f"\nPR curve with the {len(cut)} cutoffs hashbench records (64 bits): {pr100_s:.3f} s. "
          f"A fresh process: {before:.0f} MiB resident high-water mark with torch, the data and "
          f"the compiled kernels loaded; {after:.0f} MiB after the PR curve, so the curve itself "
          f"adds {after - before:.0f} MiB")


def scaling(args) -> None:
    import csv

    rows = []
    for n_q, n_db in ([(1000, n) for n in (10_000, 30_000, 100_000, 300_000, 1_000_000)] +
                      [(n, 193_734) for n in (100, 300, 1000, 3000, 10_000)]):
        q, db, ql, dbl = data(n_q, n_db, 32, args.labels, seed=1)
        cut = np.unique(np.linspace(1, n_db, 100).round().astype(np.int64))
        t_k = best_of(lambda: average_precision(q, db, ql, dbl, min(args.topk, n_db)), 2)[0]
        t_full = best_of(lambda: average_precision(q, db, ql, dbl, None), 2)[0]
        t_pr = best_of(lambda: precision_recall_curve(q, db, ql, dbl, cut), 2)[0]
        rows.append((n_q, n_db, t_k, t_full, t_pr))
        print(f"queries {n_q:>6} database {n_db:>8}: mAP@K {t_k:.3f} s, full {t_full:.3f} s, "
              f"PR {t_pr:.3f} s")
    with open(HERE / "metrics_scaling.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["queries", "database", "map_at_k_s", "full_map_s", "pr_curve_s"])
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (key, fixed, label) in zip(axes, ((1, 1000, "database size (1,000 queries)"),
                                              (0, 193_734, "queries (193,734 database)"))):
        sel = [r for r in rows if r[1 - key] == fixed]
        xs = [r[key] for r in sel]
        for col, name in ((2, f"mAP@{args.topk}"), (3, "full-ranking mAP"), (4, "PR, 100 cutoffs")):
            ax.loglog(xs, [r[col] for r in sel], marker="o", label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"hashbench CPU metrics, 32 bits, {args.labels} labels, "
                 f"{torch.get_num_threads()} threads")
    fig.tight_layout()
    fig.savefig(HERE / "metrics_scaling.png", dpi=100)
    print(f"wrote {HERE / 'metrics_scaling.csv'} and {HERE / 'metrics_scaling.png'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2100)
    ap.add_argument("--database", type=int, default=193_734)
    ap.add_argument("--bits", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--topk", type=int, default=5000)
    ap.add_argument("--loop-queries", type=int, default=100)
    ap.add_argument("--labels", type=int, default=21)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--no-native", action="store_true", help="skip the C floor kernel")
    args = ap.parse_args()
    compare(args)
    if args.scaling:
        scaling(args)


if __name__ == "__main__":
    main()
