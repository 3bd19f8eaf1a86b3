"""t-SNE maps of binary codes that come out bit for bit the same on every machine.

scikit-learn's t-SNE (Barnes-Hut, BLAS, SIMD ``exp``) gives maps that differ in their last bits
between CPUs, and t-SNE's optimisation magnifies those bits into different pictures: re-rendering
the board on another machine rewrote every t-SNE file. This one is exact t-SNE (van der Maaten
and Hinton, JMLR 2008) with scikit-learn's optimiser schedule (early exaggeration 12 for 250
iterations at momentum 0.5, then 0.8; gains; learning rate ``max(N / 48, 50)``), written so that
no result depends on the machine:

* the input distances are integers (squared distances of +-1 codes), computed exactly;
* the only transcendental functions (``exp`` and ``log``, in the perplexity search) run once,
  and the joint probabilities they give are rounded to a grid of 2^-36 (they sum to 1, so the
  expected number of entries a last-bit difference moves across a grid line is about
  1e-4 per map);
* the initial map comes from uniform draws of numpy's PCG64 (integer arithmetic, no ``log``);
* the optimisation uses only IEEE additions, multiplications and divisions, in a fixed order
  (numba without fastmath: no reassociation, no fused multiply-add), each point's sum over the
  others sequential whichever thread computes it, so the thread count changes nothing either.

A test compiles the kernels for a generic x86-64 CPU (``NUMBA_CPU_NAME=generic``: no AVX) and
for this one, with one and two threads, and gets the same bytes.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

EARLY_EXAGGERATION = 12.0
EXAGGERATION_ITERS = 250
P_GRID = 2.0 ** -36


@nb.njit(cache=True)
def _conditional_p(sqd: np.ndarray, perplexity: float) -> np.ndarray:
    """Row i: p(j|i) = exp(-beta_i d_ij) / sum, beta_i bisected to the perplexity. Distances
    are taken from the row's nearest (so the sum is at least 1: no underflow), and beta stops
    growing at 1e12: a code shared by more items than the perplexity (a collapsed model) can
    never reach it, and its row is then spread evenly over its duplicates."""
    n = sqd.shape[0]
    target = math.log(perplexity)
    out = np.zeros((n, n))
    row = np.zeros(n)
    for i in range(n):
        nearest = np.inf
        for j in range(n):
            if j != i and sqd[i, j] < nearest:
                nearest = sqd[i, j]
        beta, lo, hi = 1.0, 0.0, np.inf
        total = 0.0
        for _ in range(200):
            total, weighted = 0.0, 0.0
            for j in range(n):
                if j != i:
                    row[j] = math.exp(-beta * (sqd[i, j] - nearest))
                    total += row[j]
                    weighted += (sqd[i, j] - nearest) * row[j]
            entropy = math.log(total) + beta * weighted / total
            if abs(entropy - target) < 1e-10 or beta > 1e12:
                break
            if entropy > target:
                lo = beta
                beta = beta * 2.0 if hi == np.inf else (beta + hi) / 2.0
            else:
                hi = beta
                beta = beta / 2.0 if lo == 0.0 else (beta + lo) / 2.0
        for j in range(n):
            out[i, j] = row[j] / total if j != i else 0.0
    return out


@nb.njit(parallel=True, cache=True)
def _gradient(p: np.ndarray, y: np.ndarray, exaggeration: float, num: np.ndarray,
              grad: np.ndarray) -> None:
    n = y.shape[0]
    row_sum = np.zeros(n)
    for i in nb.prange(n):
        s = 0.0
        for j in range(n):
            if j != i:
                dx, dy = y[i, 0] - y[j, 0], y[i, 1] - y[j, 1]
                num[i, j] = 1.0 / (1.0 + dx * dx + dy * dy)
                s += num[i, j]
        row_sum[i] = s
    z = 0.0
    for i in range(n):  # in order, whatever the threads did
        z += row_sum[i]
    for i in nb.prange(n):
        gx, gy = 0.0, 0.0
        for j in range(n):
            if j != i:
                w = (exaggeration * p[i, j] - num[i, j] / z) * num[i, j]
                gx += w * (y[i, 0] - y[j, 0])
                gy += w * (y[i, 1] - y[j, 1])
        grad[i, 0], grad[i, 1] = 4.0 * gx, 4.0 * gy


@nb.njit(cache=True)
def _step(y, update, gains, grad, momentum, learning_rate):
    n = y.shape[0]
    for i in range(n):
        for d in range(2):
            if update[i, d] * grad[i, d] < 0.0:
                gains[i, d] += 0.2
            else:
                gains[i, d] *= 0.8
            if gains[i, d] < 0.01:
                gains[i, d] = 0.01
            update[i, d] = momentum * update[i, d] - learning_rate * gains[i, d] * grad[i, d]
            y[i, d] += update[i, d]


def joint_probabilities(codes: np.ndarray, perplexity: float = 30.0) -> np.ndarray:
    """Symmetric t-SNE affinities of +-1 (or 0/1) codes, rounded to ``P_GRID``."""
    c = np.where(np.asarray(codes) > 0, 1, -1).astype(np.int64)
    bits = c.shape[1]
    sqd = 2 * bits - 2 * (c @ c.T)  # integer matmul: exact
    n = len(c)
    cond = _conditional_p(sqd.astype(np.float64), min(perplexity, max(1.0, (n - 1) / 3)))
    joint = (cond + cond.T) / (2.0 * n)
    return np.floor(joint / P_GRID + 0.5) * P_GRID


def embed(codes: np.ndarray, perplexity: float = 30.0, n_iter: int = 500,
          seed: int = 0) -> np.ndarray:
    """A 2-d t-SNE map (N, 2) of binary codes (N, K); the same bytes on any machine."""
    n = len(codes)
    if n < 3:
        return np.zeros((n, 2))
    p = joint_probabilities(codes, perplexity)
    y = (np.random.Generator(np.random.PCG64(seed)).random((n, 2)) - 0.5) * 2e-4
    update, gains = np.zeros((n, 2)), np.ones((n, 2))
    num, grad = np.zeros((n, n)), np.zeros((n, 2))
    learning_rate = max(n / EARLY_EXAGGERATION / 4.0, 50.0)
    for it in range(n_iter):
        early = it < EXAGGERATION_ITERS
        _gradient(p, y, EARLY_EXAGGERATION if early else 1.0, num, grad)
        _step(y, update, gains, grad, 0.5 if early else 0.8, learning_rate)
    return y
