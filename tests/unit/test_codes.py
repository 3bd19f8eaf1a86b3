"""Center, mainstay and anchor codes against brute force and their pitfalls (P3, P8, P10)."""

import itertools

import pytest
import torch

from hashbench.errors import ConfigError
from hashbench.kit.codes import anchor_codes, center_codes, mainstay_codes


def test_center_code_minimises_the_cgat_objective_by_enumeration():
    g = torch.Generator().manual_seed(0)
    bits = 5
    bank = torch.where(torch.rand(30, bits, generator=g) < 0.5, -1.0, 1.0)
    labels = (torch.rand(30, 4, generator=g) < 0.4).float()
    query = torch.tensor([[1.0, 0, 1, 0]])
    pos = (labels @ query.T).squeeze(1) > 0
    c = center_codes(query, bank, labels)[0]

    def objective(code):
        d = (bits - bank @ code) / 2
        return d[pos].mean() - d[~pos].mean()

    best = min(objective(torch.tensor(v, dtype=torch.float32))
               for v in itertools.product([-1.0, 1.0], repeat=bits))
    assert objective(c) == pytest.approx(float(best))


def test_center_ties_break_to_plus_one_and_zero_labels_give_no_nan():
    bank = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert center_codes(torch.tensor([[1.0, 0.0]]), bank, labels).tolist() == [[1.0, 1.0]]
    zero_query = center_codes(torch.zeros(1, 2), bank, torch.zeros(2, 2))
    assert torch.isfinite(zero_query).all() and set(zero_query.flatten().tolist()) <= {-1.0, 1.0}


def test_mainstay_weights_positives_by_cosine():
    bank = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    labels = torch.tensor([[1.0, 0, 0], [1.0, 1, 1], [0, 0, 1.0]])
    # positives of [1,0,0]: item 0 (cos 1) and item 1 (cos 1/sqrt(3)); negative: item 2
    m = mainstay_codes(torch.tensor([[1.0, 0, 0]]), bank, labels)
    w0, w1 = 1.0, 1 / 3 ** 0.5
    expected = torch.sign((w0 * bank[0] + w1 * bank[1]) / (w0 + w1) - bank[2])
    assert m[0].tolist() == expected.tolist()


def test_anchor_is_majority_of_exact_matches_and_needs_n_t():
    bank = torch.tensor([[1.0, 1], [1.0, -1], [-1.0, -1], [1.0, 1]])
    labels = torch.tensor([[1.0, 0], [1.0, 0], [1.0, 0], [0, 1.0]])
    gens = [torch.Generator().manual_seed(0)]
    a = anchor_codes(torch.tensor([[1.0, 0]]), bank, labels, 3, gens)
    assert a.tolist() == [[1.0, -1.0]]  # votes: col0 1+1-1 > 0, col1 1-1-1 < 0
    with pytest.raises(ConfigError, match="fewer than n_t=2"):
        anchor_codes(torch.tensor([[0.0, 1]]), bank, labels, 2, gens)
    assert anchor_codes(torch.zeros(1, 2), bank, labels, 3, gens).tolist() == [[0.0, 0.0]]
