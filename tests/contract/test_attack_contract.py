"""Every registered attack (first- or third-party) against the harness contract."""

import pytest
import torch

from hashbench.api import AttackContext, Need, QueryBatch, SourceModel
from hashbench.metrics import binarize
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.registry import attacks
from hashbench.threat_model import check_adversarial

N_CLASSES = 4


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(0)
    model = HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, N_CLASSES), seed=0)
    labels = torch.eye(N_CLASSES)[torch.arange(40) % N_CLASSES]
    bank_x = torch.rand(40, 1, 28, 28, generator=g)
    with torch.no_grad():
        codes = binarize(model.eval()(bank_x))
    x = torch.rand(6, 1, 28, 28, generator=g)
    q_labels = torch.eye(N_CLASSES)[torch.tensor([0, 1, 2, 3, 0, 1])]
    targets = torch.roll(q_labels, 1, dims=1)
    return model, x, q_labels, targets, codes, labels


def problem_source():
    return HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, N_CLASSES), seed=1).eval()


def run(name, problem, eps, seed=0, train_mode=False, **params):
    model, x, q_labels, targets, codes, labels = problem
    attack = attacks.create(name, eps=eps, **params)
    model.train(train_mode)
    data = {Need.TRAIN_CODES.value: codes, Need.TRAIN_LABELS.value: labels,
            Need.DATABASE_CODES.value: codes, Need.DATABASE_LABELS.value: labels}
    # transfer attacks: another model of the same configuration as the source
    data[Need.SOURCE_MODEL.value] = SourceModel(problem_source(), "contract-source", dict(data))
    ctx = AttackContext(type(attack).needs, seed, "contract", name, **data)
    batch = QueryBatch(index=torch.arange(6),
                       labels=q_labels if Need.QUERY_LABELS in attack.needs else None,
                       target_labels=targets if Need.TARGET_LABELS in attack.needs else None)
    state = attack.prepare(model, ctx)
    return attack.perturb(model, x, batch, state, ctx)


# image attacks; text attacks have their own contract in test_text_attack_contract.py
ALL = [n for n in attacks.names() if attacks.get(n).modality == "image"]


@pytest.mark.parametrize("name", ALL)
def test_shape_range_and_eps_bound(name, problem):
    x = problem[1]
    adv = run(name, problem, eps=0.1, steps=5)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    linf = check_adversarial(x, adv, 0.1, name)
    assert linf > 0.0, "eps > 0 should move the input"


@pytest.mark.parametrize("name", ALL)
def test_eps_zero_leaves_codes_unchanged(name, problem):
    model, x = problem[0], problem[1]
    adv = run(name, problem, eps=0.0, steps=3)
    with torch.no_grad():
        assert torch.equal(model.eval().encode(adv), model.encode(x))


@pytest.mark.parametrize("name", ALL)
def test_deterministic_under_a_seed(name, problem):
    a = run(name, problem, eps=0.1, steps=4, seed=3)
    b = run(name, problem, eps=0.1, steps=4, seed=3)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_model_mode_restored(name, problem):
    model = problem[0]
    run(name, problem, eps=0.1, steps=2, train_mode=True)
    assert model.training
    run(name, problem, eps=0.1, steps=2, train_mode=False)
    assert not model.training


@pytest.mark.parametrize("name", ALL)
def test_metadata_complete(name):
    cls = attacks.get(name)
    assert cls.citation is not None and cls.citation.title and cls.citation.url
    assert cls.__doc__ and "Example" in cls.__doc__ and "Threat model" in cls.__doc__
    assert isinstance(cls.version, int) and hasattr(cls.Params, "__dataclass_fields__")
    assert "eps" in cls.Params.__dataclass_fields__


def test_undeclared_need_raises(problem):
    ctx = AttackContext(frozenset(), 0, "s", "attack x")
    with pytest.raises(Exception, match="does not declare Need.TRAIN_CODES"):
        _ = ctx.train_codes


def test_harness_rejects_out_of_bound_batches():
    from hashbench.errors import ThreatModelError

    x = torch.full((2, 3), 0.5)
    with pytest.raises(ThreatModelError, match="exceeded the l-inf budget.*0.2"):
        check_adversarial(x, x + 0.2, 0.1, "attack bad")
    with pytest.raises(ThreatModelError, match="left \\[0,1\\]"):
        check_adversarial(x, x * 3, 1.0, "attack bad")
    with pytest.raises(ThreatModelError, match="non-finite"):
        check_adversarial(x, x * float("nan"), 1.0, "attack bad")
