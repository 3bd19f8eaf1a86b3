"""selfcheck catches each broken contract rule with a fix, and passes the real plugins."""

import pytest
import torch
from hashbench.attacks.hag import HAG
from hashbench.defenses.vanilla import Vanilla

from hashbench.registry import defenses
from hashbench.selfcheck.image import check_attack, check_defense


def failed(checks) -> dict[str, str]:
    return {c.rule: c.fix for c in checks if not c.passed}


# the real plugins pass: tests/contract/test_selfcheck_registry.py runs every registered one


class NoMetadata(Vanilla):
    name = "Bad Name"
    version = 0
    citation = None


class NoDoc(Vanilla):
    pass


NoDoc.__doc__ = None


class Raises(Vanilla):
    def fit(self, model, split, ctx):
        raise RuntimeError("boom")


class ReturnsNothing(Vanilla):
    def fit(self, model, split, ctx):
        super().fit(model, split, ctx)


class NaNWeights(Vanilla):
    def fit(self, model, split, ctx):
        with torch.no_grad():
            model.hash_layer.weight.fill_(float("nan"))
        return model


class GlobalRNG(Vanilla):
    def fit(self, model, split, ctx):
        with torch.no_grad():
            model.hash_layer.weight.add_(torch.randn(model.hash_layer.weight.shape))
        return model


class EditsData(Vanilla):
    def fit(self, model, split, ctx):
        split._images.zero_()
        return model


@pytest.mark.parametrize("cls, rule", [
    (NoMetadata, "metadata: name"), (NoMetadata, "metadata: version"),
    (NoMetadata, "metadata: citation"), (NoDoc, "metadata: docstring"), (Raises, "fit runs"),
    (ReturnsNothing, "returns the hashing model"), (NaNWeights, "finite weights"),
    (GlobalRNG, "global RNG untouched"), (EditsData, "data left untouched"),
])
def test_each_broken_defense_rule_is_caught_with_a_fix(cls, rule):
    problems = failed(check_defense(cls))
    assert rule in problems and problems[rule]


class Overshoots(HAG):
    def perturb(self, model, x, batch, state, ctx):
        return (x + 2 * self.params.eps).clamp(0, 1)


class LeavesRange(HAG):
    def perturb(self, model, x, batch, state, ctx):
        return x + self.params.eps


class MovesAtZero(HAG):
    def perturb(self, model, x, batch, state, ctx):
        return (x + 0.01).clamp(0, 1)


class Random(HAG):
    def perturb(self, model, x, batch, state, ctx):
        return (x + self.params.eps * torch.randn(x.shape).sign()).clamp(0, 1)


class StepsTheModel(HAG):
    def perturb(self, model, x, batch, state, ctx):
        with torch.no_grad():
            model.hash_layer.bias.add_(1.0)
        return x


class ForgetsMode(HAG):
    def perturb(self, model, x, batch, state, ctx):
        model.eval()
        return x


@pytest.mark.parametrize("cls, rule", [
    (Overshoots, "in [0,1] and within eps"), (LeavesRange, "in [0,1] and within eps"),
    (MovesAtZero, "eps=0 moves nothing"), (Random, "deterministic under a seed"),
    (Random, "global RNG untouched"),
    (StepsTheModel, "model weights untouched"), (ForgetsMode, "train/eval mode restored"),
])
def test_each_broken_attack_rule_is_caught_with_a_fix(cls, rule):
    problems = failed(check_attack(cls))
    assert rule in problems and problems[rule]


def test_cli_exits_nonzero_on_a_failing_plugin(monkeypatch):
    from click.testing import CliRunner

    from hashbench.cli import cli

    monkeypatch.setattr(defenses, "get", lambda name: Raises)
    result = CliRunner().invoke(cli, ["selfcheck", "--defense", "vanilla"])
    assert result.exit_code == 1 and "FAIL" in result.output
