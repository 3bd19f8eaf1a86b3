"""Metrics against a brute-force per-query reference, hand-computed rankings and properties."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hashbench.metrics import (
    average_precision,
    binarize,
    hamming_distance,
    mean_average_precision,
    precision_at,
    precision_recall_curve,
    random_ranking_map,
)


def brute_ranking(q, db):
    """Python sort by (distance, index), one query at a time."""
    k = len(q)
    dist = [int(sum(1 for a, b in zip(q, row) if a != b)) for row in db]
    assert all(d == (k - int(np.dot(q, row))) // 2 for d, row in zip(dist, db))
    return sorted(range(len(db)), key=lambda j: (dist[j], j))


def brute_ap(q, db, ql, dbl, topk):
    order = brute_ranking(q, db)
    if topk is not None:
        order = order[:topk]
    hits, total = 0, 0.0
    for r, j in enumerate(order, start=1):
        if np.dot(ql, dbl[j]) > 0:
            hits += 1
            total += hits / r
    return total / hits if hits else 0.0


def random_problem(seed, n_q=17, n_db=60, bits=8, n_cls=5, multi=True):
    rng = np.random.default_rng(seed)
    q = rng.choice([-1.0, 1.0], size=(n_q, bits))
    db = rng.choice([-1.0, 1.0], size=(n_db, bits))
    if multi:
        ql = (rng.random((n_q, n_cls)) < 0.3).astype(float)
        dbl = (rng.random((n_db, n_cls)) < 0.3).astype(float)
    else:
        ql = np.eye(n_cls)[rng.integers(0, n_cls, n_q)]
        dbl = np.eye(n_cls)[rng.integers(0, n_cls, n_db)]
    return q, db, ql, dbl


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("topk", [None, 1, 7, 60, 100])
@pytest.mark.parametrize("bits", [4, 16])  # 4 bits: many ties; 16 bits: few
def test_map_equals_brute_force(seed, topk, bits):
    q, db, ql, dbl = random_problem(seed, bits=bits, multi=seed % 2 == 0)
    ref = np.array([brute_ap(q[i], db, ql[i], dbl, topk) for i in range(len(q))])
    got = average_precision(*map(torch.tensor, (q, db, ql, dbl)), topk=topk)
    np.testing.assert_allclose(got.ap, ref, rtol=0, atol=1e-9)
    assert abs(got.mean() - ref.mean()) < 1e-9


def test_hand_computed_ranking():
    # query 1111; database distances 0, 2, 1, 1, 4 -> order by (distance, index): 0, 2, 3, 1, 4
    q = torch.tensor([[1.0, 1, 1, 1]])
    db = torch.tensor([[1.0, 1, 1, 1], [-1, -1, 1, 1], [-1, 1, 1, 1], [1, -1, 1, 1],
                       [-1, -1, -1, -1]])
    assert hamming_distance(q, db).tolist() == [[0, 2, 1, 1, 4]]
    ql = torch.tensor([[1.0, 0]])
    dbl = torch.tensor([[1.0, 0], [1, 1], [0, 1], [1, 0], [0, 1]])
    # relevance in ranking order (items 0, 2, 3, 1, 4): 1, 0, 1, 1, 0
    # AP@all = (1/1 + 2/3 + 3/4) / 3;  AP@2 = (1/1) / 1;  AP@3 = (1 + 2/3) / 2
    assert mean_average_precision(q, db, ql, dbl) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert mean_average_precision(q, db, ql, dbl, topk=2) == pytest.approx(1.0)
    assert mean_average_precision(q, db, ql, dbl, topk=3) == pytest.approx((1 + 2 / 3) / 2)


def test_ties_broken_by_database_index():
    q = torch.tensor([[1.0, 1]])
    db = torch.tensor([[1.0, 1], [1.0, 1]])  # a tie at distance 0
    ql = torch.tensor([[1.0, 0]])
    first_relevant = torch.tensor([[1.0, 0], [0, 1]])
    second_relevant = torch.tensor([[0.0, 1], [1, 0]])
    assert mean_average_precision(q, db, ql, first_relevant, topk=1) == 1.0
    assert mean_average_precision(q, db, ql, second_relevant, topk=1) == 0.0
    assert mean_average_precision(q, db, ql, second_relevant) == pytest.approx(0.5)


def test_zero_hit_queries_count_or_skip():
    q = torch.tensor([[1.0, 1], [1.0, 1]])
    db = torch.tensor([[1.0, 1], [-1.0, -1]])
    ql = torch.tensor([[1.0, 0], [0, 1]])
    dbl = torch.tensor([[1.0, 0], [0, 1]])
    res = average_precision(q, db, ql, dbl, topk=1)
    assert res.ap.tolist() == [1.0, 0.0]
    assert res.mean("count") == 0.5  # CgAT / SAAT / DeepHash-pytorch
    assert res.mean("skip") == 1.0   # DHTA drops the query with no hit


def test_topk_none_is_full_ranking_not_minus_one():
    q, db, ql, dbl = random_problem(3)
    t = list(map(torch.tensor, (q, db, ql, dbl)))
    assert mean_average_precision(*t, topk=None) == mean_average_precision(*t, topk=len(db))


def test_sign_ties_go_to_plus_one():
    assert binarize(torch.tensor([-0.5, 0.0, 0.3])).tolist() == [-1.0, 1.0, 1.0]


def test_precision_recall_and_p_at_n_match_brute_force():
    q, db, ql, dbl = random_problem(11, n_q=9, n_db=40, bits=6)
    t = list(map(torch.tensor, (q, db, ql, dbl)))
    curve = precision_recall_curve(*t)
    precs, recs = [], []
    for i in range(len(q)):
        rel = np.array([np.dot(ql[i], dbl[j]) > 0 for j in brute_ranking(q[i], db)], float)
        if rel.sum() == 0:
            continue
        cum = np.cumsum(rel)
        precs.append(cum / np.arange(1, len(db) + 1))
        recs.append(cum / rel.sum())
    np.testing.assert_allclose(curve.precision, np.mean(precs, 0), atol=1e-12)
    np.testing.assert_allclose(curve.recall, np.mean(recs, 0), atol=1e-12)
    assert curve.recall[-1] == pytest.approx(1.0)
    p_at = precision_at(*t, ns=[1, 5, 40])
    all_prec = []
    for i in range(len(q)):
        rel = np.array([np.dot(ql[i], dbl[j]) > 0 for j in brute_ranking(q[i], db)], float)
        all_prec.append([rel[:n].mean() for n in (1, 5, 40)])
    np.testing.assert_allclose(p_at, np.mean(all_prec, 0), atol=1e-12)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="code shapes"):
        mean_average_precision(torch.ones(2, 4), torch.ones(3, 8), torch.ones(2, 2),
                               torch.ones(3, 2))


codes = st.integers(min_value=1, max_value=30)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_db=codes, topk=st.one_of(st.none(), st.integers(1, 40)))
def test_map_in_unit_interval(seed, n_db, topk):
    q, db, ql, dbl = random_problem(seed, n_q=5, n_db=n_db, bits=6)
    m = mean_average_precision(*map(torch.tensor, (q, db, ql, dbl)), topk=topk)
    assert 0.0 <= m <= 1.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_map_invariant_to_database_permutation_without_ties(seed):
    rng = np.random.default_rng(seed)
    bits, n_db = 12, 12
    # distinct distances from the query: item j differs from q in exactly j bits
    q = rng.choice([-1.0, 1.0], size=(1, bits))
    db = np.repeat(q, n_db, axis=0)
    for j in range(n_db):
        db[j, :j] *= -1
    ql = np.array([[1.0, 0, 1]])
    dbl = (rng.random((n_db, 3)) < 0.5).astype(float)
    perm = rng.permutation(n_db)
    a = mean_average_precision(*map(torch.tensor, (q, db, ql, dbl)), topk=5)
    b = mean_average_precision(*map(torch.tensor, (q, db[perm], ql, dbl[perm])), topk=5)
    assert a == pytest.approx(b, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), bits=st.integers(1, 64))
def test_hamming_symmetric_and_bounded(seed, bits):
    rng = np.random.default_rng(seed)
    a = torch.tensor(rng.choice([-1.0, 1.0], size=(4, bits)))
    b = torch.tensor(rng.choice([-1.0, 1.0], size=(5, bits)))
    d = hamming_distance(a, b)
    assert torch.equal(d, hamming_distance(b, a).T)
    assert int(d.min()) >= 0 and int(d.max()) <= bits
    assert torch.equal(d, (a.unsqueeze(1) != b.unsqueeze(0)).sum(2))


def test_random_ranking_map_is_the_mean_ap_of_random_codes():
    g = torch.Generator().manual_seed(3)
    q_labels = (torch.rand(40, 5, generator=g) < 0.3).float()
    db_labels = (torch.rand(600, 5, generator=g) < 0.3).float()
    expected = random_ranking_map(q_labels, db_labels)
    by_hand = (q_labels @ db_labels.T > 0).double().mean().item()
    assert abs(expected - by_hand) < 1e-12
    # random 64-bit codes rank the database at random: their mAP averages to the floor
    maps = [mean_average_precision(torch.randn(40, 64, generator=g), torch.randn(600, 64, generator=g),
                                   q_labels, db_labels) for _ in range(20)]
    assert abs(sum(maps) / len(maps) - expected) < 0.02


@pytest.mark.parametrize("bits, topk", [(4, 50), (8, 333), (32, 999), (8, 1)])
def test_bucket_top_k_is_exactly_the_sorted_prefix(bits, topk):
    from hashbench.metrics import _topk_by_buckets

    g = torch.Generator().manual_seed(bits)
    q = torch.randn(9, bits, generator=g).sign()
    db = torch.randn(1000, bits, generator=g).sign()
    dist = hamming_distance(q, db)
    key = dist * 1000 + torch.arange(1000)
    assert torch.equal(_topk_by_buckets(dist, topk), torch.argsort(key, dim=1)[:, :topk])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("topk", [None, 1, 7, 100])
@pytest.mark.parametrize("bits", [4, 16, 70])  # 70 bits: two packed words on the CPU kernel
def test_torch_path_and_cpu_kernel_agree_with_brute_force(seed, topk, bits, monkeypatch):
    import hashbench.metrics as metrics

    q, db, ql, dbl = random_problem(seed, bits=bits, multi=seed % 2 == 0)
    ref = np.array([brute_ap(q[i], db, ql[i], dbl, topk) for i in range(len(q))])
    args = [torch.tensor(a) for a in (q, db, ql, dbl)]
    kernel = average_precision(*args, topk=topk)
    monkeypatch.setattr(metrics, "_cpu_kernel", None)
    reference = average_precision(*args, topk=topk)
    for got in (kernel, reference):
        np.testing.assert_allclose(got.ap, ref, rtol=0, atol=1e-9)
    assert np.array_equal(kernel.retrieved_relevant, reference.retrieved_relevant)


@pytest.mark.parametrize("seed", range(3))
def test_pr_curve_cpu_kernel_equals_torch_path(seed, monkeypatch):
    import hashbench.metrics as metrics

    q, db, ql, dbl = random_problem(seed, n_q=12, n_db=80, bits=5 + seed * 30)
    args = [torch.tensor(a) for a in (q, db, ql, dbl)]
    cut = np.array([80, 1, 7, 7, 33])  # unsorted, repeated: the kernel must not care
    kernel = precision_recall_curve(*args, cutoffs=cut)
    monkeypatch.setattr(metrics, "_cpu_kernel", None)
    reference = precision_recall_curve(*args, cutoffs=cut)
    np.testing.assert_allclose(kernel.precision, reference.precision, atol=1e-12)
    np.testing.assert_allclose(kernel.recall, reference.recall, atol=1e-12)
