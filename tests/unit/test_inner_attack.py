"""A defense's inner attack is any registered attack: the defense's own settings go where the
attack has parameters of those names, and ``inner_params`` (a mapping) goes on top, strictly."""

import pytest
import torch

from hashbench.api import TrainContext
from hashbench.errors import ConfigError
from hashbench.registry import attacks, defenses
from hashbench.selfcheck.image import check_defense


def ctx() -> TrainContext:
    return TrainContext(seed=0, scope="t", eps=0.2, train_labels=torch.eye(2),
                        database_labels=torch.eye(2), make_hash_loss=lambda: None,
                        attack=attacks.create)


def test_settings_an_attack_lacks_are_left_out_and_the_mapping_goes_on_top():
    hag = ctx().inner_attack("hag", {"steps": 3}, eps=0.2, steps=7, step=0.05, code="center")
    assert hag.params.eps == 0.2 and hag.params.steps == 3  # no 'step' or 'code' in HAG
    pgd = ctx().inner_attack("center_pgd", None, eps=0.2, steps=7, step=0.05, code="mainstay")
    assert (pgd.params.steps, pgd.params.step, pgd.params.code) == (7, 0.05, "mainstay")
    with pytest.raises(ConfigError, match="unknown parameter.*stepz"):
        ctx().inner_attack("center_pgd", {"stepz": 3}, eps=0.2)


def test_cgat_trains_against_another_registered_inner_attack():
    checks = check_defense(defenses.get("cgat"), {"inner_attack": "hag",
                                                   "inner_params": {"steps": 2}})
    failed = [f"{c.rule}: {c.detail}" for c in checks if not c.passed]
    assert not failed, failed
