"""Fault injection on `hashbench.benchmark(model)`: a model handed in whole is guarded as a plugin
is. Each broken model ends in one exception naming the model (never the attack that called it),
before any record of it is written, and a model that never returns is stopped by the time limit.
"""

import json

import pytest
import torch
from torch import nn

import hashbench
from hashbench.errors import HashbenchError

SUITE = """
name = "handed-in"
version = 1
seed = 0
cell_timeout = {timeout}
worst_case = ["hag"]

[[groups]]
datasets = ["mnist"]
methods = ["dpsh"]
backbones = ["small_cnn"]
bits = [16]
defenses = ["vanilla"]
attacks = ["hag"]
queries = 16

[defense.vanilla]
epochs = 1

[attack.hag]
steps = 3
"""


class Linear(nn.Module):
    """A sound model: images to 16 real outputs."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 16)
        with torch.no_grad():
            w = torch.Generator().manual_seed(0)
            self.fc.weight.copy_(torch.randn(16, 28 * 28, generator=w) * 0.05)
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x.flatten(1))


class ChangesItsWeights(Linear):
    def forward(self, x):
        with torch.no_grad():
            self.fc.bias.add_(0.01)
        return super().forward(x)


class ChangesItsWeightsLater(Linear):
    """Sound when probed and encoded, then updates itself: inside an attack's steps."""

    def forward(self, x):
        if torch.is_grad_enabled() and x.shape[0] > 2:  # an attack's step, not the probe
            with torch.no_grad():
                self.fc.bias.add_(0.01)
        return super().forward(x)


class DrawsFromTheGlobalRng(Linear):
    def forward(self, x):
        return super().forward(x) + 1e-3 * torch.randn(x.shape[0], 16)


class IntegerOutputs(Linear):
    def forward(self, x):
        return (super().forward(x) > 0).long()


class NanOutputs(Linear):
    def forward(self, x):
        return super().forward(x) * float("nan")


class NanOnLargeBatches(Linear):
    """Finite on the two-image probe, NaN on the database batches."""

    def forward(self, x):
        out = super().forward(x)
        return out * float("nan") if x.shape[0] > 2 else out


class WrongWidth(Linear):
    def forward(self, x):
        out = super().forward(x)
        return out if x.shape[0] <= 2 else out[:, :8]


class Detached(Linear):
    def forward(self, x):
        return super().forward(x).detach()


class Sleeps(Linear):
    def forward(self, x):
        import time

        time.sleep(3600)


class Raises(Linear):
    def forward(self, x):
        if x.shape[0] > 2:
            raise KeyError("layer4")
        return super().forward(x)


CASES = {
    "changes its weights when called": (ChangesItsWeights, "changed its own weights"),
    "draws from the global RNG": (DrawsFromTheGlobalRng, "drew from the global random"),
    "integer outputs": (IntegerOutputs, "torch.int64 outputs"),
    "NaN outputs": (NanOutputs, "non-finite outputs"),
    "NaN on large batches": (NanOnLargeBatches, "non-finite outputs"),
    "another width on large batches": (WrongWidth, "returned shape"),
    "detached outputs": (Detached, "does not depend differentiably"),
    "raises on large batches": (Raises, "raised KeyError: 'layer4'"),
}


def run(model, tmp_path, timeout=300, **kw):
    suite = tmp_path / "handed-in.toml"
    suite.write_text(SUITE.format(timeout=timeout))
    return hashbench.benchmark(model, "mnist", name="mine", suite=str(suite),
                               results=tmp_path / "results", cache=tmp_path / "cache",
                               device="cpu", **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_model_is_named_before_any_record(case, tmp_path):
    cls, message = CASES[case]
    with pytest.raises(HashbenchError, match=message) as err:
        run(cls(), tmp_path)
    assert str(err.value).startswith("model 'mine'"), err.value
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "results").rglob("*.json")) if (tmp_path / "results").exists() \
        else True


def test_a_model_that_changes_itself_inside_an_attack_is_blamed_not_the_attack(tmp_path):
    ev = run(ChangesItsWeightsLater(), tmp_path)
    hag = next(a for a in ev.attacks if a.attack == "hag")
    assert hag.status == "failed"
    assert hag.error.startswith("HandedInModelError: model 'mine' changed its own weights"), \
        hag.error
    assert "attack 'hag'" not in hag.error


def test_a_model_that_never_returns_is_stopped_by_the_time_limit(tmp_path):
    with pytest.raises(HashbenchError, match="ran past its time limit of 2 s"):
        run(Sleeps(), tmp_path, timeout=2)


def test_a_plain_function_is_one_line():
    with pytest.raises(HashbenchError, match="is a function, not a torch.nn.Module"):
        hashbench.benchmark(lambda x: x.flatten(1)[:, :16], "mnist", attacks=["hag"])


def test_a_meta_device_model_is_one_line():
    with torch.device("meta"):
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16))
    with pytest.raises(HashbenchError, match="tensors on the meta device"):
        hashbench.benchmark(model, "mnist", attacks=["hag"])


def test_a_sound_model_is_measured_and_its_sha_is_of_its_own_weights(tmp_path):
    """The guard wraps the model without changing what identifies it."""
    from hashbench.harness.guards import weights_sha256
    from hashbench.models.adapter import as_hash_model

    model = Linear()
    ev = run(model, tmp_path)
    assert ev.ok, ev
    clean = json.loads(next((tmp_path / "results").rglob("clean.json")).read_text())
    images = torch.zeros(2, 1, 28, 28)
    assert clean["model"]["defense"]["params"]["weights_sha256"] == \
        weights_sha256(as_hash_model(model, images))
