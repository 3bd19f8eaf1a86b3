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
            "dc3aece29318ec6800d9de9026dce14a3023c0994f66918b7223790db5c42067",
        "mnist_multi/dcmh-small_cnn-16b/cm_vanilla":
            "72deb30f1c3e390f9f74f5743c008eabf4befa4dea22f9f45e7642b48f7651e7",
        "mnist_multi/rmsh-small_cnn-16b/cm_vanilla":
            "72aaf5aa7a027b42354083a363f0f29f7afd86581c0fb13d684d1bced3b6dc26",
        "mnist_multi/ssah-small_cnn-16b/cm_vanilla":
            "416e8e46245f3e4628134d8aa1496b8d378b6135fb0532b3fca90c436faa270a",
    },
    "smoke": {
        "mnist/dpsh-small_cnn-16b/vanilla":
            "dbff33281facecc0b0e0cc3beed2e36d6c91f6ada405472e5eb7a0639ae59397",
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
