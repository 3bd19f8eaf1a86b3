"""The model cache keys of the smoke suites, pinned: a key holds declared versions
(``hashbench.MODEL_CODE_VERSION``, each plugin's ``version``), never hashbench's source bytes, so
a docstring, an import or a refactor leaves these as they are, and so do releases. A deliberate
change (a version bump, a new key part) updates these pins and says so."""


import pytest
import torch

from hashbench.data import load_dataset
from hashbench.harness.provision import Provisioner
from hashbench.harness.store import ModelStore
from hashbench.harness.suites import load_suite

PINNED = {
    "crossmodal_smoke": {
        "mnist_multi/dcmh-small_cnn-16b/cm_cgat":
            "82ecae085baac9bd83a4ecd908c3df6be88848caec9fbb96a9e5a8d2913e529f",
        "mnist_multi/dcmh-small_cnn-16b/cm_vanilla":
            "40a16b7f816096743bde4f80422f1874237fd08051e8f80ea4e9624d23360284",
        "mnist_multi/rmsh-small_cnn-16b/cm_vanilla":
            "07845db8b98445825fc9ad002c3651b255ddb8617b244cafc18ade1d08b19e8f",
        "mnist_multi/ssah-small_cnn-16b/cm_vanilla":
            "7555b87c76c307ef97cc48c8c8b18ef534d1d5922f78ba462c494be17d6ca0e3",
    },
    "smoke": {
        "mnist/dpsh-small_cnn-16b/vanilla":
            "2cf1ba0ce34e323b4c4150e04a2d32b7360296fa2dde1eb9de832f62cf058e7f",
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
