"""Adding an image hashing loss, an attack and a defense is one file and one entry-point line each:
three throwaway plugins, written here, are "installed" (a dist-info folder with their three
entry-point lines, what `pip install` writes) and then covered by the unedited contract tests,
and the new loss trains a suite's model through the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACT = Path(__file__).resolve().parent / "test_selfcheck_registry.py"

LOSS = '''
"""A throwaway image hashing loss: DPH's squared inner products with a margin."""
from dataclasses import dataclass, field
from hashbench.api import Citation, HashLoss, ImageMethod

@dataclass(frozen=True)
class Params:
    margin: float = field(default=0.1, metadata={"min": 0.0})

class MarginLoss(HashLoss):
    name = "margin_dph"
    def __init__(self, labels, bits, generator, margin):
        super().__init__(labels, bits, generator)
        self.margin = margin
    def __call__(self, u, y, idx, update=True):
        bank = self.update_bank(u, idx, update)
        s = 2 * self.similarity(y) - 1
        return ((u @ bank.T / self.bits - s).abs() - self.margin).clamp(min=0).pow(2).mean()

class MarginDPH(ImageMethod):
    """Squared inner-product hashing with a margin (a throwaway test plugin)."""
    name = "margin_dph"
    Params = Params
    citation = Citation(key="t", title="throwaway loss", url="https://example.org/loss")
    def loss(self, labels, bits, generator):
        return MarginLoss(labels, bits, generator, self.params.margin)
'''

ATTACK = '''
"""A throwaway attack: one signed-gradient step away from the clean code."""
from dataclasses import dataclass, field
import torch
from hashbench.api import Attack, Citation
from hashbench.kit.optim import project

@dataclass(frozen=True)
class Params:
    eps: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})

class OneStep(Attack):
    """One FGSM-style step on the code's inner product (a throwaway test plugin)."""
    name = "one_step"
    Params = Params
    citation = Citation(key="t", title="throwaway attack", url="https://example.org/attack")
    def perturb(self, model, x, batch, state, ctx):
        with torch.no_grad():
            clean = model(x).sign()
        x_adv = x.clone().requires_grad_(True)
        (model(x_adv) * clean).sum().backward()
        return project(x - self.params.eps * x_adv.grad.sign(), x, self.params.eps).detach()
'''

DEFENSE = '''
"""A throwaway defense: the hashing loss on inputs with a little uniform noise."""
from dataclasses import dataclass, field
import torch
from hashbench.api import Citation, Defense, Need
from hashbench.kit.training import TrainConfig

@dataclass(frozen=True)
class Params:
    epochs: int = field(default=1, metadata={"min": 0})
    lr: float = field(default=1e-3, metadata={"min": 0.0})

class NoisyTraining(Defense):
    """Train on noisy inputs (a throwaway test plugin)."""
    name = "noisy"
    needs = frozenset({Need.TRAIN_LABELS})
    Params = Params
    citation = Citation(key="t", title="throwaway defense", url="https://example.org/defense")
    def fit(self, model, split, ctx):
        loss, gen = ctx.make_hash_loss(), ctx.rng("noise")
        def step(b, t):
            noise = (torch.rand(b.x.shape, generator=gen) - 0.5).to(b.x.device) * ctx.eps
            return loss(model((b.x + noise).clamp(0, 1), loss.train_alpha(t)), b.y, b.idx)
        return ctx.fit(model, split, step, TrainConfig(epochs=self.params.epochs,
                       optimizer="adam", lr=self.params.lr, batch_size=64))
'''

SUITE = '''
name = "one_file_plugins"
version = 1
[[groups]]
datasets = ["mnist"]
methods = ["margin_dph"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla", "noisy"]
attacks = ["one_step"]
queries = 32
[defense.vanilla]
epochs = 1
optimizer = "adam"
lr = 0.001
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("plugins")
    for module, text in (("throwaway_loss", LOSS), ("throwaway_attack", ATTACK),
                         ("throwaway_defense", DEFENSE)):
        (root / f"{module}.py").write_text(text)  # one file each
    info = root / "throwaway_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-plugins\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(  # one line each
        "[hashbench.methods]\nmargin_dph = throwaway_loss:MarginDPH\n"
        "[hashbench.attacks]\none_step = throwaway_attack:OneStep\n"
        "[hashbench.defenses]\nnoisy = throwaway_defense:NoisyTraining\n")
    (root / "suite.toml").write_text(SUITE)
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    return {"root": root, "env": {**os.environ, "PYTHONPATH": path}}


def test_the_unedited_contract_tests_cover_the_three_new_plugins(installed):
    ids = "method-margin_dph or attack-one_step or defense-noisy"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(CONTRACT), "-k", ids], capture_output=True, text=True,
                          env=installed["env"], timeout=600, cwd=installed["root"])
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 passed" in done.stdout, done.stdout[-2000:]


def test_the_new_loss_trains_a_suite_model_attacked_by_the_new_attack(installed, tmp_path):
    run = subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite",
                          str(installed["root"] / "suite.toml"), "--results",
                          str(tmp_path / "r"), "--cache", str(tmp_path / "c")],
                         capture_output=True, text=True, env=installed["env"], timeout=600)
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "r/one_file_plugins-v1/mnist/margin_dph-small_cnn-16b"
    for defense in ("vanilla", "noisy"):
        rec = json.loads((folder / defense / "one_step.json").read_text())
        assert rec["status"] == "ok", rec["error"]
        assert rec["model"]["hash_params"] == {"margin": 0.1}
        assert rec["attack"]["third_party"] is True
        assert rec["metrics"]["map"] < rec["metrics"]["clean_map"]
