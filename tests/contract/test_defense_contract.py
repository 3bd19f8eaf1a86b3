"""Every registered defense against the harness contract, on tiny data (seconds)."""

import dataclasses

import pytest
import torch

from hashbench.api import TrainContext
from hashbench.data.splits import Split
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.models.losses import make_loss
from hashbench.registry import attacks, defenses
from hashbench.seeding import generator


def tiny_split() -> Split:
    g = torch.Generator().manual_seed(0)
    labels = torch.eye(4)[torch.arange(48) % 4]
    images = (torch.rand(48, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    return Split(labels, images=images)


def train(name: str, seed: int = 0):
    cls = defenses.get(name)
    fields = {f.name for f in dataclasses.fields(cls.Params)}
    params = {k: v for k, v in {"epochs": 1, "batch_size": 16, "proto_hidden": 16}.items()
              if k in fields}
    split = tiny_split()
    model = HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, 4), seed=0)
    ctx = TrainContext(
        seed=seed, scope=f"contract/{name}", eps=0.3, train_labels=split.labels,
        database_labels=split.labels,
        make_hash_loss=lambda: make_loss("dpsh", split.labels, 16, generator(seed, "loss")),
        attack=attacks.create,
    )
    return cls(**params).fit(model, split, ctx), split


# image defenses; image-text ones have their own contract in test_crossmodal_contract.py
IMAGE = [n for n in defenses.names() if defenses.get(n).modality == "image"]


@pytest.mark.parametrize("name", IMAGE)
def test_returns_a_hash_model_with_binary_codes(name):
    model, split = train(name)
    assert isinstance(model, HashModel) and model.bits == 16
    codes = model.eval().encode(split.images(torch.arange(8)))
    assert codes.shape == (8, 16) and set(codes.unique().tolist()) <= {-1.0, 1.0}
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("name", IMAGE)
def test_deterministic_under_a_seed(name):
    a, _ = train(name, seed=5)
    b, _ = train(name, seed=5)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("name", defenses.names())
def test_metadata_complete(name):
    cls = defenses.get(name)
    assert cls.citation is not None and cls.citation.url
    assert cls.__doc__ and "Example" in cls.__doc__ and "Threat model" in cls.__doc__
    assert cls.starts_from == "scratch" or defenses.get(cls.starts_from).modality == cls.modality
