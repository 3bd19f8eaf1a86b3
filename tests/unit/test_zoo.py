"""The model zoo: every published checkpoint loads, is the one its records measured, and
re-measures to its record's clean mAP on the spot."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hashbench
from hashbench.data import load_dataset
from hashbench.errors import ConfigError, ResultError
from hashbench.kit.training import encode_split
from hashbench.metrics import mean_average_precision
from hashbench.records.io import sha256_bytes
from hashbench.zoo import default_root, entries

REPO = Path(__file__).resolve().parents[2]


def test_every_zoo_checkpoint_is_the_one_its_record_names():
    listed = entries()
    assert len(listed) >= 24 + 8 + 9 + 27  # standard v2 and v1, crossmodal v1 and v2
    for e in listed:
        record = json.loads((REPO / e.record).read_text())
        assert record["model"]["checkpoint_sha256"] == e.sha256 == \
            sha256_bytes((default_root() / e.file).read_bytes())
        assert record["metrics"]["clean_map"] == e.clean_map


@pytest.mark.parametrize("name, seed", [("standard-v2/mnist/dpsh-small_cnn-32b/cgat", 0),
                                        ("standard-v2/mnist_multi/dpsh-small_cnn-32b/saat", 2)])
def test_a_zoo_model_re_measures_to_its_record(name, seed):
    entry = next(e for e in entries() if e.name == name and e.seed == seed)
    model = hashbench.load_model(name, seed=seed)
    assert not model.training
    data = load_dataset(name.split("/")[1])
    got = mean_average_precision(encode_split(model, data.query), encode_split(model, data.database),
                                 data.query.labels, data.database.labels, entry.topk)
    assert got == entry.clean_map  # bit for bit: same weights, same pinned kernels


def test_an_image_text_zoo_model_re_measures_to_its_record():
    from hashbench.kit.training import encode_texts

    name = "crossmodal-v2/mnist_multi/dcmh-small_cnn-32b/cm_cgat"
    entry = next(e for e in entries() if e.name == name and e.seed == 1)
    assert entry.direction == "i2t"  # image queries against the text database
    model = hashbench.load_model(name, seed=1)
    data = load_dataset("mnist_multi")
    got = mean_average_precision(encode_split(model.image, data.query),
                                 encode_texts(model.text, data.database.texts),
                                 data.query.labels, data.database.labels, entry.topk)
    assert got == entry.clean_map


def test_a_tampered_checkpoint_and_an_unknown_name_are_refused(tmp_path):
    shutil.copytree(default_root(), tmp_path / "zoo")
    entry = entries()[0]
    path = tmp_path / "zoo" / entry.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ResultError, match="does not match its sha256"):
        hashbench.zoo.load_model(entry.name, entry.seed, root=tmp_path / "zoo")
    with pytest.raises(ConfigError, match="did you mean"):
        hashbench.zoo.load_model(entry.name.replace("cgat", "cgatt") if "cgat" in entry.name
                                 else entry.name + "x", entry.seed)
    with pytest.raises(ConfigError, match="has no seed 7"):
        hashbench.zoo.load_model(entry.name, 7)


def test_zoo_command_lists_the_models():
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "zoo"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "standard-v2/mnist/dpsh-small_cnn-32b/cgat" in res.stdout
