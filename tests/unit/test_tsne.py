"""hashbench.report.tsne: a faithful t-SNE (clusters stay together) whose map is the same bytes for any
thread count and any CPU the kernels are compiled for."""

import hashlib
import os
import subprocess
import sys

import numpy as np

from hashbench.report.tsne import P_GRID, embed, joint_probabilities

SCRIPT = """
import hashlib, sys
import numpy as np
from hashbench.report.tsne import embed
rng = np.random.default_rng(0)
centers = np.where(rng.random((6, 24)) < 0.5, 1, -1)
codes = centers[np.arange(300) % 6] * np.where(rng.random((300, 24)) < 0.15, -1, 1)
print(hashlib.sha256(embed(codes, n_iter=300).tobytes()).hexdigest())
"""


def clustered(n=300, k=6, bits=24, flip=0.15, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.where(rng.random((k, bits)) < 0.5, 1, -1)
    labels = np.arange(n) % k
    return centers[labels] * np.where(rng.random((n, bits)) < flip, -1, 1), labels


def test_clusters_of_codes_stay_together_on_the_map():
    codes, labels = clustered()
    y = embed(codes, n_iter=300)
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.argsort(1)[:, :5]
    assert (labels[nearest] == labels[:, None]).mean() > 0.95


def test_affinities_are_symmetric_normalised_and_on_the_grid():
    codes, _ = clustered(n=80)
    p = joint_probabilities(codes)
    assert np.array_equal(p, p.T) and abs(p.sum() - 1) < 1e-6 and (np.diag(p) == 0).all()
    assert np.array_equal(np.round(p / P_GRID), p / P_GRID)


def test_the_map_is_the_same_bytes_for_any_thread_count_and_cpu_target(tmp_path):
    want = None
    for env in ({"NUMBA_NUM_THREADS": "1"}, {"NUMBA_NUM_THREADS": "2"},
                # kernels compiled for a generic x86-64 (no AVX), in a cache of their own
                {"NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "generic")}):
        res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                             env={**os.environ, **env}, timeout=300)
        assert res.returncode == 0, res.stderr
        want = want or res.stdout
        assert res.stdout == want, env
    codes, _ = clustered()
    assert hashlib.sha256(embed(codes, n_iter=300).tobytes()).hexdigest() == want.strip()


def test_a_collapsed_model_all_one_code_still_maps():
    codes = np.ones((200, 16))
    codes[150:] = -1  # two codes, each shared by far more items than the perplexity
    y = embed(codes, n_iter=100)
    assert np.isfinite(y).all() and y.shape == (200, 2)
