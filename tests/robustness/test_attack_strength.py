"""Attacks are real: on vanilla DPSH 32 bits (embedded MNIST, eps 0.3) they do what the papers show."""

import pytest
import torch

from hashbench.harness.evaluate import AttackSetting, attack_metrics, clean_metrics
from hashbench.harness.provision import Provisioned
from hashbench.kit.training import encode_split
from hashbench.registry import attacks

N_QUERIES = 100


@pytest.fixture(scope="module")
def prov(trained_mnist):
    model, codes = trained_mnist
    return Provisioned(model, "test", "0" * 64, {}, codes)


def attacked(prov, data, name, **params):
    attack = attacks.create(name, **{"eps": 0.3, **params})
    q_idx = torch.arange(N_QUERIES)
    metrics, _, _ = attack_metrics(AttackSetting(data, q_idx, None, f"strength/{name}", 0),
                                   prov, attack)
    return metrics


def test_clean_map_of_vanilla_dpsh_is_high(prov, mnist):
    q = encode_split(prov.model, mnist.query)
    metrics, _ = clean_metrics(q, prov, mnist, mnist.query.labels, mnist.target_labels, None)
    assert metrics["clean_map"] >= 0.80
    assert metrics["clean_t_map"] <= 0.2  # no attack: targets are retrieved at the base rate


@pytest.fixture(scope="module")
def untargeted(prov, mnist):
    return {name: attacked(prov, mnist, name)["map"] for name in ("hag", "center_pgd")}


def test_untargeted_attacks_wreck_retrieval(untargeted):
    assert untargeted["hag"] <= 0.20
    assert untargeted["center_pgd"] <= 0.20
    # SAAT Table I ordering: the center/mainstay attack is at least as strong as HAG
    assert untargeted["center_pgd"] <= untargeted["hag"] + 0.02


def test_targeted_attack_reaches_the_target(prov, mnist):
    m = attacked(prov, mnist, "targeted_pgd")
    assert m["t_map"] >= 0.70


def test_more_steps_never_weaker(prov, mnist, untargeted):
    few = attacked(prov, mnist, "center_pgd", steps=10)["map"]
    assert untargeted["center_pgd"] <= few + 0.03


def test_unbounded_eps_reaches_random_retrieval(prov, mnist):
    base_rate = 0.1  # ten balanced classes
    m = attacked(prov, mnist, "center_pgd", eps=1.0, steps=50)
    assert m["map"] <= base_rate + 0.05
