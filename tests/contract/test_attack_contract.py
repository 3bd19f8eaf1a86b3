"""Attacks: what selfcheck's rules (run over the registry by test_selfcheck_registry.py: shape,
[0,1], eps, eps=0, determinism, weights, mode, global RNG) do not say: docstring sections, needs
enforced, and the harness refusing out-of-bound batches whatever the attack."""

import pytest
import torch

from hashbench.api import AttackContext
from hashbench.harness.threat_model import check_adversarial
from hashbench.registry import attacks

N_CLASSES = 4


# image attacks; text attacks' docstrings are checked in test_crossmodal_contract.py
ALL = [n for n in attacks.names() if attacks.get(n).modality == "image"]


@pytest.mark.parametrize("name", ALL)
def test_metadata_complete(name):
    cls = attacks.get(name)
    assert cls.citation is not None and cls.citation.title and cls.citation.url
    assert cls.__doc__ and "Example" in cls.__doc__ and "Threat model" in cls.__doc__
    assert isinstance(cls.version, int) and hasattr(cls.Params, "__dataclass_fields__")
    assert "eps" in cls.Params.__dataclass_fields__


def test_undeclared_need_raises():
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
