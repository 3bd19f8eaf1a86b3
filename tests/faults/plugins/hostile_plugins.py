"""Plugins that break the contract on purpose, one way each, for the fault-injection tests.

Installed for a test as a third party would be (entry points in a dist-info folder), never by
hashbench itself.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from hashbench.api import Attack, Citation, Defense, Need

CITE = Citation(key="hostile", title="hashbench fault-injection plugin", url="https://example.org")


@dataclass(frozen=True)
class AttackParams:
    eps: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})


class _Hostile(Attack):
    """A hostile attack (fault-injection test)."""

    version = 1
    Params = AttackParams
    citation = CITE

    def perturb(self, model, x, batch, state, ctx):
        return self.misbehave(model, x)


def _attack(name: str, misbehave) -> type:
    return type(name, (_Hostile,), {"name": name, "misbehave": staticmethod(misbehave)})


def _raise_type(model, x):
    return x + "not a tensor"


def _raise_key(model, x):
    return {}["missing-key"]


def _mutate(model, x):
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    return x


def _train_mode(model, x):
    model.train()
    return x


def _global_torch(model, x):
    return (x + 0.1 * torch.rand(x.shape)).clamp(0, 1)  # no generator: the global one


def _reseed(model, x):
    torch.manual_seed(1234)
    return x


def _numpy(model, x):
    np.random.rand()
    return x


def _python_random(model, x):
    random.random()
    return x


def _hang(model, x):
    while True:
        time.sleep(0.05)


def _exit(model, x):
    sys.exit(3)


def _nan(model, x):
    return x * float("nan")


def _none(model, x):
    return None


def _outside(model, x):
    return (x + 0.9).clamp(0, 1)


def _shape(model, x):
    return x[..., :-1]


def _multiline(model, x):
    raise RuntimeError("first line\nsecond line\n\x1b[31mred\x1b[0m [bold]markup[/]")


RaiseType = _attack("raise_type", _raise_type)
RaiseKey = _attack("raise_key", _raise_key)
MutateWeights = _attack("mutate_weights", _mutate)
LeaveTrainMode = _attack("leave_train_mode", _train_mode)
GlobalTorchRng = _attack("global_torch_rng", _global_torch)
Reseed = _attack("reseed", _reseed)
NumpyRng = _attack("numpy_rng", _numpy)
PythonRng = _attack("python_rng", _python_random)
Hang = _attack("hang", _hang)
Exit = _attack("exit_attack", _exit)
NanOut = _attack("nan_out", _nan)
ReturnsNone = _attack("returns_none", _none)
Outside = _attack("outside_ball", _outside)
WrongShape = _attack("wrong_shape", _shape)
Multiline = _attack("multiline_error", _multiline)


@dataclass(frozen=True)
class RankingParams:
    eps: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})
    queries: int = field(default=10, metadata={"min": 0})


class _HostileRanking(Attack):
    """A hostile ranking-only attack (fault-injection test)."""

    version = 1
    access = "ranking"
    blackbox = True
    Params = RankingParams
    citation = CITE


class ClosureRanking(_HostileRanking):
    """Reaches for the model through the oracle's ranking function (its closure)."""

    name = "closure_ranking"

    def perturb(self, oracle, x, batch, state, ctx):
        model = next(c.cell_contents for c in oracle._rank.__closure__
                     if isinstance(c.cell_contents, torch.nn.Module))
        x = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).sum(), x)
        return (x - self.params.eps * grad.sign()).clamp(0, 1).detach()


class RankingReadsDatabase(_HostileRanking):
    """Ranking-only, yet declares the attacked model's database codes."""

    name = "ranking_reads_db"
    needs = frozenset({Need.DATABASE_CODES})

    def perturb(self, oracle, x, batch, state, ctx):
        return x + 0 * ctx.database_codes.sum()


class Overspend(_HostileRanking):
    """Sends 200 queries per image against a budget of 10."""

    name = "overspend"

    def perturb(self, oracle, x, batch, state, ctx):
        for _ in range(200):
            oracle(x)
        return x


class FakeBlackbox(Attack):
    """A white-box attack whose class says it is black-box."""

    name = "fake_blackbox"
    version = 1
    blackbox = True
    Params = AttackParams
    citation = CITE

    def perturb(self, model, x, batch, state, ctx):
        x = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).sum(), x)
        return (x - self.params.eps * grad.sign()).clamp(0, 1).detach()


@dataclass(frozen=True)
class DefenseParams:
    epochs: int = field(default=1, metadata={"min": 0})


class _HostileDefense(Defense):
    """A hostile defense (fault-injection test)."""

    version = 1
    Params = DefenseParams
    citation = CITE
    uses_eps = False

    def fit(self, model, split, ctx):
        return self.misbehave(model)


def _defense(name: str, misbehave) -> type:
    return type(name, (_HostileDefense,), {"name": name, "misbehave": staticmethod(misbehave)})


def _fit_none(model):
    return None


def _fit_nan(model):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return model


def _fit_key(model):
    return {"a": 1}["b"]


def _fit_hang(model):
    while True:
        time.sleep(0.05)


FitNone = _defense("fit_none", _fit_none)
FitNan = _defense("fit_nan", _fit_nan)
FitKeyError = _defense("fit_key_error", _fit_key)
FitHang = _defense("fit_hang", _fit_hang)

ATTACKS = {c.name: c for c in (RaiseType, RaiseKey, MutateWeights, LeaveTrainMode, GlobalTorchRng,
                               Reseed, NumpyRng, PythonRng, Hang, Exit, NanOut, ReturnsNone,
                               Outside, WrongShape, Multiline)}
DEFENSES = {c.name: c for c in (FitNone, FitNan, FitKeyError, FitHang)}
RANKING = {c.name: c for c in (ClosureRanking, RankingReadsDatabase, Overspend, FakeBlackbox)}
ATTACKS.update(RANKING)
