"""Split containers, seeded split generation, target-label drawing and protocol hashing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from hashbench.kit.seeding import numpy_rng

# n_t of DHTA is at most this: every drawn target label has at least this many exact matches in
# the database, so anchors never sample with replacement (methods.md P8).
MAX_ANCHOR_MEMBERS = 9


class Split(torch.utils.data.Dataset):
    """One split of a retrieval dataset: images in [0,1] and multi-hot labels (N, C).

    ``labels`` is always in memory. Images are either an in-memory uint8 tensor (embedded data)
    or read by ``loader(i)`` (files under a data root). ``texts``, when the dataset pairs every
    image with a bag-of-words tag vector (N, T) in {0,1}, is in memory too (the cross-modal track).
    """

    def __init__(
        self,
        labels: torch.Tensor,
        images: torch.Tensor | None = None,
        loader: Callable[[int], torch.Tensor] | None = None,
        texts: torch.Tensor | None = None,
    ):
        if (images is None) == (loader is None):
            raise ValueError("a Split needs exactly one of images or loader")
        if texts is not None and texts.shape[0] != labels.shape[0]:
            raise ValueError(f"{texts.shape[0]} text vectors for {labels.shape[0]} items")
        self.labels = labels.to(torch.float32)
        self.texts = texts.to(torch.float32) if texts is not None else None
        self._images = images
        self._loader = loader

    @property
    def in_memory(self) -> bool:
        return self._images is not None

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, i: int):
        return self.images(torch.tensor([i]))[0], self.labels[i], i

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        """Float images in [0,1] for the given indices."""
        if self._images is not None:
            return self._images[idx].to(torch.float32) / 255.0
        assert self._loader is not None  # a Split has images or a loader
        return torch.stack([self._loader(int(i)) for i in idx])

    def subset(self, idx: torch.Tensor) -> Split:
        """A split holding only the items at ``idx`` (in that order)."""
        texts = self.texts[idx] if self.texts is not None else None
        if self._images is not None:
            return Split(self.labels[idx], images=self._images[idx], texts=texts)
        base, loader = [int(i) for i in idx], self._loader
        assert loader is not None
        return Split(self.labels[idx], loader=lambda j: loader(base[j]), texts=texts)


@dataclass
class RetrievalData:
    """A dataset under its protocol: train / query / database splits and per-query targets."""

    name: str
    protocol: str
    train: Split
    query: Split
    database: Split
    target_labels: torch.Tensor
    eps: float
    topk: int | None
    image_shape: tuple[int, int, int]
    hashes: dict[str, str] = field(default_factory=dict)
    # The text side (cross-modal track). Kept out of ``hashes`` so that adding tags to a dataset
    # leaves its image protocol hash, and every image-only record made under it, valid.
    text_hashes: dict[str, str] = field(default_factory=dict)
    text_flips: int | None = None  # the text query budget: tags an attack may flip

    @property
    def n_classes(self) -> int:
        return self.database.labels.shape[1]

    @property
    def has_texts(self) -> bool:
        return all(s.texts is not None for s in (self.train, self.query, self.database))

    @property
    def text_dim(self) -> int | None:
        texts = self.database.texts
        return texts.shape[1] if self.has_texts and texts is not None else None

    @property
    def paired_protocol_hash(self) -> str:
        """The protocol hash of image-text cells: the image protocol and the text matrices."""
        return sha256_text(self.protocol_hash + "|" + "|".join(
            f"{k}={v}" for k, v in sorted(self.text_hashes.items())))

    @property
    def protocol_hash(self) -> str:
        """One hash over every split and target file of the protocol."""
        return sha256_text("|".join(f"{k}={v}" for k, v in sorted(self.hashes.items())))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_array(arr) -> str:
    """Content hash of an index or label array (dtype-normalised so it is platform-stable)."""
    a = np.ascontiguousarray(np.asarray(arr), dtype=np.int64)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


def hash_texts(texts: torch.Tensor) -> str:
    """Content hash of a {0,1} text matrix."""
    a = np.ascontiguousarray(texts.numpy() > 0.5)
    return hashlib.sha256(str(a.shape).encode() + np.packbits(a, axis=None).tobytes()).hexdigest()


def one_hot(y: np.ndarray, n_classes: int) -> torch.Tensor:
    out = torch.zeros(len(y), n_classes)
    out[torch.arange(len(y)), torch.as_tensor(y, dtype=torch.long)] = 1.0
    return out


def stratified_split(
    y: np.ndarray, per_class: int, seed: int, purpose: str
) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` items of every class (chosen with a seeded generator), and the rest."""
    rng = numpy_rng(seed, "split", purpose)
    chosen = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        chosen.append(rng.choice(members, size=per_class, replace=False))
    picked = np.sort(np.concatenate(chosen))
    rest = np.setdiff1d(np.arange(len(y)), picked)
    return picked, rest


def draw_target_labels(
    query_labels: torch.Tensor, db_labels: torch.Tensor, seed: int
) -> torch.Tensor:
    """One target label vector per query (methods.md P7, P8; the SAAT rule).

    Candidates are the unique non-zero database label vectors that share no label with the query
    and have at least ``MAX_ANCHOR_MEMBERS`` exact matches in the database. A query with no such
    candidate gets an all-zero target (it is then left out of t-mAP).
    """
    uniq, counts = torch.unique(db_labels, dim=0, return_counts=True)
    keep = (counts >= MAX_ANCHOR_MEMBERS) & (uniq.sum(1) > 0)
    uniq = uniq[keep]
    rng = numpy_rng(seed, "target_labels")
    allowed = (query_labels @ uniq.T) == 0
    targets = torch.zeros_like(query_labels)
    for i in range(query_labels.shape[0]):
        options = torch.nonzero(allowed[i]).flatten().numpy()
        if options.size:
            targets[i] = uniq[int(rng.choice(options))]
    return targets
