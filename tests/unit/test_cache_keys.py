"""The model cache keys of the smoke suites, pinned: a change that moves them (an edit to the
plugin kit, the models, a method or a defense's source, or to how the key is built) retrains every
cached model and makes every published record's ``cache_key`` stale. A move of harness, report or
record modules must leave them as they are; a deliberate change updates these pins and says so."""


import pytest
import torch

from hashbench.data import load_dataset
from hashbench.harness.provision import Provisioner
from hashbench.harness.store import ModelStore
from hashbench.harness.suites import load_suite

PINNED = {
    "crossmodal_smoke": {
        "mnist_multi/dcmh-small_cnn-16b/cm_cgat":
            "c1a14b8fd0ccbfba7060f9d6ad2f1cc6d534907e7272c62e3c9f0daa4df86f31",
        "mnist_multi/dcmh-small_cnn-16b/cm_vanilla":
            "9e8a8aebae60757d77cbe53c63c6a500d7c91bb9f97915f356b596af19a9c0d9",
        "mnist_multi/rmsh-small_cnn-16b/cm_vanilla":
            "7e7dc6ae620fae502303d286c07d043bfb76769b2b70323a81ab8029e3ef3224",
        "mnist_multi/ssah-small_cnn-16b/cm_vanilla":
            "62f847fa96f7e55df2be4ee014aefc924553fed24716408222775630898cb83f",
    },
    "smoke": {
        "mnist/dpsh-small_cnn-16b/vanilla":
            "44dd55b9180216ba94f0ee5de888b52be0a80b3f93384e70ce5221d86174032a",
    },
}


@pytest.mark.parametrize("suite", sorted(PINNED))
def test_model_cache_keys_are_pinned(suite, tmp_path):
    prov = Provisioner(ModelStore(tmp_path), torch.device("cpu"))
    found, datasets = {}, {}
    for cell in load_suite(suite).cells():
        if cell.attack != "clean":
            continue
        data = datasets.setdefault(cell.dataset, load_dataset(cell.dataset, None))
        found[f"{cell.dataset}/{cell.model_id}/{cell.defense}"] = \
            prov.identity(cell, data, cell.defense).key
    assert found == PINNED[suite]
