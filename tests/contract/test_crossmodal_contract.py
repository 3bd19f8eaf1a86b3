"""Image-text plugins: what selfcheck's rules (tests/contract/test_selfcheck_registry.py) do not
say: docstring sections, and that a text attack's needs are enforced."""

import pytest
import torch

from hashbench.api import AttackContext, Need, QueryBatch
from hashbench.data import load_dataset
from hashbench.metrics import binarize
from hashbench.models.crossmodal import CrossModalHashModel, CrossModalSpec
from hashbench.registry import attacks, defenses

TEXT = [n for n in attacks.names() if attacks.get(n).modality == "text"]
IMAGE_TEXT = [n for n in defenses.names() if defenses.get(n).modality == "image-text"]


@pytest.fixture(scope="module")
def data():
    d = load_dataset("mnist_multi")
    return d.train.subset(torch.arange(64)), d


def model(seed=0):
    return CrossModalHashModel(CrossModalSpec("dcmh", "small_cnn", 16, 1, 10, 40), seed=seed)


def run(name, data, flips, seed=0, train_mode=False):
    split, _ = data
    m = model()
    with torch.no_grad():
        codes = binarize(m.eval().image(split.images(torch.arange(64))))
    extra = {"n_t": 1} if "n_t" in attacks.get(name).Params.__dataclass_fields__ else {}
    attack = attacks.create(name, flips=flips, **extra)  # 64 items: few exact target matches
    m.text.train(train_mode)
    ctx = AttackContext(type(attack).needs, seed, "contract", name, train_codes=codes,
                        train_labels=split.labels, database_codes=codes,
                        database_labels=split.labels)
    y = split.labels[:8]
    targets = split.labels[8:16]
    batch = QueryBatch(index=torch.arange(8), labels=y, target_labels=targets)
    return m.text, split.texts[:8], attack.perturb(m.text, split.texts[:8], batch, None, ctx)


@pytest.mark.parametrize("name", TEXT)
def test_text_attack_metadata(name):
    cls = attacks.get(name)
    assert cls.citation is not None and cls.citation.url
    assert cls.__doc__ and "Example" in cls.__doc__ and "Threat model" in cls.__doc__
    assert "flips" in cls.Params.__dataclass_fields__


def test_a_need_is_still_enforced_for_text_attacks():
    ctx = AttackContext(frozenset({Need.QUERY_LABELS}), 0, "s", "attack text_flip")
    with pytest.raises(Exception, match="does not declare Need.TRAIN_CODES"):
        _ = ctx.train_codes
