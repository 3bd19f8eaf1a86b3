"""Loaders for the hashing literature's datasets, read from a local data root (never downloaded).

* ``cifar10``: the python pickle batches (``DATA_ROOT/cifar10/cifar-10-batches-py/data_batch_1``
  ... ``test_batch``), DeepHash-pytorch protocol ``cifar10-1``: 1,000 query (100 per class),
  5,000 train (500 per class), 59,000 database (everything but the queries; train is inside it).
* ``nus_wide``, ``ms_coco``, ``flickr25k``, ``imagenet100``: the list-file format of the hashing
  literature, ``relative/path.jpg 0 1 0 ...`` one image a line, in ``DATA_ROOT/<name>/`` as
  ``train.txt``, ``test.txt`` (queries) and ``database.txt``; image paths are relative to that
  folder. Images are resized to 256 and centre-cropped to 224, in [0,1] (docs/methods.md 6.1).
  For the cross-modal track, a split may pair its images with tag vectors, the cross-modal
  literature's bag-of-words matrix: ``train_text.npy`` etc. beside the list files (all three
  splits or none).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
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
    sha256_text,
    stratified_split,
)
from hashbench.errors import DataError, DataMissing, one_line

PROTOCOL_SEED = 0
NATURAL_EPS = 8 / 255
LIST_FORMAT = "'relative/path.jpg' followed by {n} labels in {{0,1}}, separated by spaces"
TEXT_FORMAT = ("train_text.npy / test_text.npy / database_text.npy (or .txt, one row of 0/1 "
               "tags a line), row i paired with line i of train.txt / test.txt / database.txt")
# Text queries of the literature's tag vectors (1,386-d MIRFLICKR, 1,000-d NUS-WIDE, ~2,000-d
# MS-COCO; a handful of tags each) may flip this many tags.
LITERATURE_TEXT_FLIPS = 5


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a callable outside the arrays-only allowlist."""


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, ints, numpy arrays) and
    nothing else: a pickle can name any importable callable and run it on load, so every global
    outside numpy's array reconstruction is refused before it is imported."""

    ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
                         ("numpy", "dtype"), ("_codecs", "encode")})

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise RefusedGlobal(f"{module}.{name}")
        return super().find_class(module, name)


@dataclass(frozen=True)
class ListDataset:
    name: str
    n_classes: int
    topk: int | None


LIST_DATASETS = {
    "nus_wide": ListDataset("nus_wide", 21, 5000),
    "ms_coco": ListDataset("ms_coco", 80, 5000),
    "flickr25k": ListDataset("flickr25k", 38, 5000),
    "imagenet100": ListDataset("imagenet100", 100, 1000),
}
SPLIT_FILES = {"train": "train.txt", "query": "test.txt", "database": "database.txt"}


def _need_root(name: str, root: Path | None) -> Path:
    if root is None:
        raise DataMissing(
            f"{name}: no data root; pass --data-root DIR or set HASHBENCH_DATA "
            f"(expected DIR/{name}/...)"
        )
    return root


def load_cifar10(root: Path | None) -> RetrievalData:
    base = _need_root("cifar10", root) / "cifar10" / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    xs, ys = [], []
    for n in names:
        path = base / n
        if not path.is_file():
            raise DataMissing(
                f"cifar10: missing {path} (the CIFAR-10 python version, cifar-10-python.tar.gz "
                "unpacked under DATA_ROOT/cifar10/)"
            )
        try:
            with open(path, "rb") as fh:
                batch = ArraysOnlyUnpickler(fh, encoding="bytes").load()
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except RefusedGlobal as err:
            raise DataError(f"cifar10: {path} asks the unpickler for {err}, which a CIFAR-10 "
                            "batch never holds; refusing to load it (replace the file with the "
                            "official cifar-10-python batches)") from err
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
            raise DataError(
                f"cifar10: {path} is not a CIFAR-10 python pickle batch with b'data' "
                f"(N x 3072 uint8) and b'labels' ({type(err).__name__}: {err})"
            ) from err
        if len(data) != len(labels):
            raise DataError(f"cifar10: {path} has {len(data)} images but {len(labels)} labels")
        xs.append(data)
        ys.append(labels)
    x, y = np.concatenate(xs), np.concatenate(ys)
    n_per = len(y) // 60  # 100 per class on the full 60,000; scales down on fixture data
    query_idx, db_idx = stratified_split(y, max(1, n_per // 10), PROTOCOL_SEED, "cifar/query")
    train_local, _ = stratified_split(y[db_idx], max(1, n_per // 2), PROTOCOL_SEED, "cifar/train")
    onehot = one_hot(y, 10)
    imgs = torch.as_tensor(x)
    query = Split(onehot[query_idx], images=imgs[query_idx])
    database = Split(onehot[db_idx], images=imgs[db_idx])
    train = Split(onehot[db_idx[train_local]], images=imgs[db_idx[train_local]])
    targets = draw_target_labels(query.labels, database.labels, PROTOCOL_SEED)
    hashes = {"query": hash_array(query_idx), "database": hash_array(db_idx),
              "train": hash_array(db_idx[train_local]), "labels": hash_array(y),
              "targets": hash_array(targets.numpy())}
    return RetrievalData("cifar10", "cifar10-1", train, query, database, targets, NATURAL_EPS,
                         None, (3, 32, 32), hashes)


def parse_list_file(path: Path, n_classes: int, dataset: str) -> tuple[list[str], torch.Tensor]:
    """Parse one list file; every error names the file, the line and the expected format."""
    if not path.is_file():
        raise DataMissing(
            f"{dataset}: missing list file {path} (one image a line: "
            f"{LIST_FORMAT.format(n=n_classes)})"
        )
    paths, rows = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{dataset}: cannot read list file {path} ({one_line(err)}); expected "
                        f"UTF-8 text, {LIST_FORMAT.format(n=n_classes)}") from err
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != n_classes + 1 or any(p not in ("0", "1") for p in parts[1:]):
            raise DataError(
                f"{dataset}: {path} line {lineno}: expected {LIST_FORMAT.format(n=n_classes)}"
                f", got {len(parts) - 1} fields after the path"
            )
        paths.append(parts[0])
        rows.append([int(p) for p in parts[1:]])
    if not paths:
        raise DataError(f"{dataset}: {path} is empty (expected {LIST_FORMAT.format(n=n_classes)})")
    return paths, torch.tensor(rows, dtype=torch.float32)


def _image_loader(folder: Path, paths: list[str], dataset: str):
    from PIL import Image
    from torchvision.transforms import v2

    transform = v2.Compose([v2.Resize(256), v2.CenterCrop(224), v2.ToImage(),
                            v2.ToDtype(torch.float32, scale=True)])

    def load(i: int) -> torch.Tensor:
        path = folder / paths[i]
        try:
            with Image.open(path) as img:
                return transform(img.convert("RGB"))
        except Exception as err:  # noqa: BLE001 - missing, truncated, not an image, a bomb
            raise DataError(f"{dataset}: cannot read image {path} ({one_line(err)}); restore "
                            "the file, or rebuild the lists without it (`hashbench data "
                            "prepare`)") from err

    return load


def text_file(folder: Path, split: str) -> Path | None:
    """The bag-of-words matrix of a split, ``<list name>_text.npy`` or ``.txt``, if present."""
    stem = SPLIT_FILES[split][:-4]
    for suffix in (".npy", ".txt"):
        path = folder / f"{stem}_text{suffix}"
        if path.is_file():
            return path
    return None


def read_texts(path: Path, n_items: int, dataset: str) -> torch.Tensor:
    """A (N, T) bag-of-words matrix in {0,1}, one row per line of the split's list file.

    ``.npy``: a 2-d array; ``.txt``: one row of T space-separated 0/1 values per line. Word counts
    are not accepted: the text threat model flips tags, which needs a binary vector.
    """
    try:
        arr = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as err:
        raise DataError(f"{dataset}: cannot read text matrix {path} ({err}); expected "
                        f"{TEXT_FORMAT}") from err
    if arr.ndim != 2 or arr.shape[0] != n_items:
        raise DataError(f"{dataset}: {path} has shape {arr.shape}, expected ({n_items}, T): one "
                        f"row per line of its list file; {TEXT_FORMAT}")
    if not np.isin(arr, (0, 1)).all():
        raise DataError(f"{dataset}: {path} holds values other than 0 and 1; {TEXT_FORMAT}")
    return torch.as_tensor(arr, dtype=torch.float32)


def load_list_dataset(name: str, root: Path | None) -> RetrievalData:
    spec = LIST_DATASETS[name]
    folder = _need_root(name, root) / name
    splits, hashes, text_hashes = {}, {}, {}
    found = {split: text_file(folder, split) for split in SPLIT_FILES}
    if any(found.values()) and not all(found.values()):
        missing = [f"{SPLIT_FILES[k][:-4]}_text.npy" for k, v in found.items() if v is None]
        raise DataError(f"{name}: text matrices are partial; add "
                        f"{', '.join(missing)} under {folder} ({TEXT_FORMAT}) or remove the others")
    for split, fname in SPLIT_FILES.items():
        paths, labels = parse_list_file(folder / fname, spec.n_classes, name)
        text_file_of = found[split]
        texts = read_texts(text_file_of, len(paths), name) if text_file_of else None
        splits[split] = Split(labels, loader=_image_loader(folder, paths, name), texts=texts)
        hashes[split] = sha256_text((folder / fname).read_text(encoding="utf-8"))
        if texts is not None:
            text_hashes[split] = hash_texts(texts)
    dims = {s.texts.shape[1] for s in splits.values() if s.texts is not None}
    if len(dims) > 1:
        raise DataError(f"{name}: the text matrices under {folder} have different widths "
                        f"{sorted(dims)}; every split needs the same vocabulary")
    targets = draw_target_labels(splits["query"].labels, splits["database"].labels, PROTOCOL_SEED)
    hashes["targets"] = hash_array(targets.numpy())
    return RetrievalData(name, f"{name}-lists-v1", splits["train"], splits["query"],
                         splits["database"], targets, NATURAL_EPS, spec.topk, (3, 224, 224),
                         hashes, text_hashes=text_hashes,
                         text_flips=LITERATURE_TEXT_FLIPS if text_hashes else None)

