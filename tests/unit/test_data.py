"""Embedded datasets, protocol hashes, and the literature loaders on fixture files."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hashbench.data import load_dataset
from hashbench.data.embedded import FASHION_SYSTEM_DIR, mnist_multi_tags
from hashbench.data.literature import load_cifar10, load_list_dataset
from hashbench.data.splits import MAX_ANCHOR_MEMBERS
from hashbench.errors import ConfigError, DataError


def test_mnist_protocol(mnist):
    d = mnist
    assert (len(d.query), len(d.database), len(d.train)) == (500, 4500, 2000)
    assert d.image_shape == (1, 28, 28) and d.eps == 0.3
    x = d.query.images(torch.arange(10))
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(d.query.labels.sum(0), torch.full((10,), 50.0))
    assert torch.equal(d.train.labels.sum(0), torch.full((10,), 200.0))
    # targets: no overlap with the query's label, enough exact matches for n_t anchors
    assert ((d.query.labels * d.target_labels).sum(1) == 0).all()
    matches = (d.target_labels.unsqueeze(1) == d.database.labels.unsqueeze(0)).all(2).sum(1)
    assert (matches >= MAX_ANCHOR_MEMBERS).all()


def test_protocol_is_deterministic_and_hashed(mnist):
    from hashbench.data import embedded

    again = embedded.load_mnist()
    assert again.protocol_hash == mnist.protocol_hash
    assert set(mnist.hashes) == {"train", "query", "database", "labels", "targets"}
    assert torch.equal(again.target_labels, mnist.target_labels)


def test_mnist_multi_is_multi_label_with_tags():
    d = load_dataset("mnist_multi")
    counts = d.database.labels.sum(1)
    assert set(counts.unique().tolist()) == {1.0, 2.0}
    assert (len(d.query), len(d.database), len(d.train)) == (500, 4500, 4000)
    # base rate: the mAP of a random ranking; kept low so attacks have room to show a drop
    relevant = (d.query.labels @ d.database.labels.T > 0).float().mean().item()
    assert 0.15 < relevant < 0.3
    assert d.image_shape == (1, 28, 28)
    assert ((d.query.labels * d.target_labels).sum(1) == 0).all()
    tags = mnist_multi_tags(d.query.labels.numpy())
    assert tags.shape == (500, 40) and tags[:, :10].sum() > 0.8 * d.query.labels.sum().item()


def test_unknown_dataset_lists_close_matches():
    with pytest.raises(ConfigError, match="did you mean mnist"):
        load_dataset("mnsit")


@pytest.mark.skipif(not FASHION_SYSTEM_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_real_idx_files():
    d = load_dataset("fashion_mnist")
    assert (len(d.query), len(d.database), len(d.train)) == (1000, 69000, 5000)
    assert d.eps == 0.1


def test_fashion_mnist_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    from hashbench.data import embedded

    monkeypatch.setattr(embedded, "FASHION_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        embedded.load_fashion_mnist(tmp_path)


def _write_cifar(root: Path) -> None:
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = np.repeat(np.arange(10), 2).tolist()
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels}, fh)


def test_cifar10_pickle_batches(tmp_path):
    _write_cifar(tmp_path)
    d = load_cifar10(tmp_path)
    assert len(d.query) + len(d.database) == 120 and d.image_shape == (3, 32, 32)
    assert abs(d.eps - 8 / 255) < 1e-12
    train_set = {tuple(r) for r in d.train.images(torch.arange(len(d.train))).flatten(1).tolist()[:3]}
    assert train_set  # train lies inside the database under cifar10-1


def test_cifar10_missing_and_malformed_batches(tmp_path):
    with pytest.raises(DataError, match="data_batch_1"):
        load_cifar10(tmp_path)
    _write_cifar(tmp_path)
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"junk")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR-10 python pickle"):
        load_cifar10(tmp_path)


def _write_lists(root: Path, n_classes: int = 21) -> Path:
    from PIL import Image

    folder = root / "nus_wide"
    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = {"train.txt": [], "test.txt": [], "database.txt": []}
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"img/{i}.png")
        lab = np.zeros(n_classes, int)
        lab[[i % n_classes, (i * 7) % n_classes]] = 1
        line = f"img/{i}.png " + " ".join(map(str, lab))
        split = "test.txt" if i < 5 else "database.txt"
        lines[split].append(line)
        if i >= 20:
            lines["train.txt"].append(line)
    for name, rows in lines.items():
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


def test_list_files_load_images_resized_to_224(tmp_path):
    _write_lists(tmp_path)
    d = load_list_dataset("nus_wide", tmp_path)
    assert (len(d.query), len(d.database), len(d.train)) == (5, 35, 20)
    x = d.query.images(torch.arange(2))
    assert x.shape == (2, 3, 224, 224) and float(x.max()) <= 1.0
    assert d.topk == 5000


def test_list_file_errors_name_file_line_and_format(tmp_path):
    folder = _write_lists(tmp_path)
    with pytest.raises(DataError, match="no data root"):
        load_list_dataset("nus_wide", None)
    text = (folder / "database.txt").read_text().splitlines()
    text[3] = "img/3.png 0 1 2"
    (folder / "database.txt").write_text("\n".join(text))
    with pytest.raises(DataError, match=r"database.txt line 4: expected 'relative/path.jpg' "
                                        r"followed by 21 labels"):
        load_list_dataset("nus_wide", tmp_path)
    (folder / "test.txt").unlink()
    with pytest.raises(DataError, match="missing list file .*test.txt"):
        load_list_dataset("nus_wide", tmp_path)


def test_cifar10_batch_that_runs_code_is_refused(tmp_path):
    """A hostile pickle names os.system; the loader refuses it before anything is imported."""
    _write_cifar(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_2").write_bytes(
        pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="asks the unpickler for posix.system.*refusing"):
        load_cifar10(tmp_path)
    assert not marker.exists()


def test_embedded_digits_ship_inside_hashbench_with_the_published_protocol():
    """The 5,000 digits load from hashbench's own npz (no data package) and give the protocol
    hash every published mnist record names."""
    import json
    from pathlib import Path

    from hashbench.data import load_dataset
    from hashbench.data.embedded import MNIST_5K

    assert MNIST_5K.is_file() and MNIST_5K.stat().st_size < 1_200_000
    data = load_dataset("mnist")
    record = next((Path(__file__).resolve().parents[2] / "results/standard-v2/mnist")
                  .rglob("clean.json"))
    assert json.loads(record.read_text())["dataset"]["protocol_hash"] == data.protocol_hash


def test_a_tampered_digits_file_is_refused(tmp_path, monkeypatch):
    import numpy as np
    import pytest

    from hashbench.data import embedded
    from hashbench.errors import DataError

    with np.load(embedded.MNIST_5K) as npz:
        images, labels = npz["images"].copy(), npz["labels"]
    images[0, 0, 0] ^= 1
    bad = tmp_path / "mnist_5k.npz"
    np.savez_compressed(bad, images=images, labels=labels)
    monkeypatch.setattr(embedded, "MNIST_5K", bad)
    embedded._mnist_5k.cache_clear()
    try:
        with pytest.raises(DataError, match="does not hold the 5,000 embedded digits"):
            embedded._mnist_5k()
    finally:
        embedded._mnist_5k.cache_clear()
