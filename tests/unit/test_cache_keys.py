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
            "25c63034d611f5309738220785b81d83dd6c242da1afcabfed09205b241c16a5",
        "mnist_multi/dcmh-small_cnn-16b/cm_vanilla":
            "1c4884e3e21ccf8f51cb9da8bee15808ef343a338f0b053eb822e80d1d3522d4",
        "mnist_multi/rmsh-small_cnn-16b/cm_vanilla":
            "92ec8b70a30072e67c6395b5cf353a1b85363bb23375b896bb956842ebed5b48",
        "mnist_multi/ssah-small_cnn-16b/cm_vanilla":
            "07b6e59da2439b0021981df77016955553e7f2f467e38a17d7b7342104b80ccb",
    },
    "smoke": {
        "mnist/dpsh-small_cnn-16b/vanilla":
            "39f7ae6d58982523d69b1b105a4e920940c825a439754e82faaef0c6c7a67794",
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
