"""Confidence intervals for reported numbers (docs/design.md: a number is a mean with an interval).

* Over queries, one training run: a percentile bootstrap of the mean per-query AP (2,000
  resamples from a generator seeded by the number of queries alone, so a record's interval is a
  pure function of its per-query values).
* Over seeds: the t interval of the mean of per-seed mAPs, mean +- t(0.975, n-1) s / sqrt(n).
Both are 95%.
"""

from __future__ import annotations

import math

import numpy as np

from hashbench.kit.seeding import numpy_rng

RESAMPLES = 2000
# t(0.975, df) for df = 1..30; beyond that the normal quantile is within 2% of it
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def bootstrap_ci(values: np.ndarray) -> list[float]:
    """95% percentile-bootstrap interval [low, high] of the mean of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return [0.0, 0.0]
    rng = numpy_rng(0, "bootstrap", values.size)
    idx = rng.integers(0, values.size, size=(RESAMPLES, values.size))
    means = values[idx].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return [float(min(low, values.mean())), float(max(high, values.mean()))]


def t_quantile(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.96


def seed_ci(values: list[float]) -> list[float]:
    """95% t interval [low, high] of the mean over seeds (needs two or more values)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return [mean - half, mean + half]
