"""Parameter validation and the projected-descent engine."""

from dataclasses import dataclass, field
from typing import Literal

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hashbench.errors import ConfigError
from hashbench.kit.optim import alpha_at, eval_mode, project, projected_descent
from hashbench.kit.params import parse_params


@dataclass(frozen=True)
class P:
    eps: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    steps: int = field(default=10, metadata={"min": 0})
    mode: Literal["a", "b"] = "a"
    step: float | None = None


def test_params_validate_types_ranges_choices_and_unknown_keys():
    assert parse_params(P, {"eps": 1, "steps": 3}, "attack x").eps == 1.0
    with pytest.raises(ConfigError, match="attack x: unknown parameter\\(s\\) stepz; valid: eps"):
        parse_params(P, {"stepz": 3}, "attack x")
    with pytest.raises(ConfigError, match="'eps' must lie in \\[0.0, 1.0\\], got 2"):
        parse_params(P, {"eps": 2}, "attack x")
    with pytest.raises(ConfigError, match="'steps' must be int"):
        parse_params(P, {"steps": 2.5}, "attack x")
    with pytest.raises(ConfigError, match="'mode' must be one of \\['a', 'b'\\]"):
        parse_params(P, {"mode": "c"}, "attack x")
    with pytest.raises(ConfigError, match="'steps' must be a number, got True"):
        parse_params(P, {"steps": True}, "attack x")
    assert parse_params(P, {"step": None}, "attack x").step is None


def test_alpha_schedules():
    assert [alpha_at("saat10", t, 100) for t in (0, 49, 50, 99)] == [0.1, 0.1, 0.2, 1.0]
    assert alpha_at("dhta", 999, 2000) == 0.1 and alpha_at("dhta", 1000, 2000) == 0.2
    assert alpha_at("dhta", 1999, 2000) == 1.0 and alpha_at("constant", 5, 10) == 1.0


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 1.0))
def test_projection_keeps_ball_and_box(seed, eps):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 5, generator=g)
    wild = torch.randn(3, 5, generator=g) * 3
    p = project(wild, x, eps)
    assert float((p - x).abs().max()) <= eps + 1e-6
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x, alpha=1.0):
        return torch.tanh(alpha * self.drop(self.lin(x)))


@pytest.mark.parametrize("update", ["sign", "l2", "sgd"])
def test_engine_descends_stays_in_bounds_and_restores_mode(update):
    model = Toy().train()
    x = torch.full((6, 4), 0.5)
    target = torch.tensor([1.0, -1.0])

    def obj(out, t):
        return -(out * target).sum(1)

    gen = torch.Generator().manual_seed(0)
    adv = projected_descent(model, x, obj, eps=0.2, step=0.05, steps=20, generator=gen,
                            update=update)
    assert model.training  # restored
    assert float((adv - x).abs().max()) <= 0.2 + 1e-6
    with torch.no_grad(), eval_mode(model):
        assert obj(model(adv), 0).mean() < obj(model(x), 0).mean()
