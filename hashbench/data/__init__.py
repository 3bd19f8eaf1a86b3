"""Datasets under their protocols. ``load_dataset(name, root)`` is the one entry point."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from hashbench.data.embedded import (
    data_root_from_env,
    load_fashion_mnist,
    load_mnist,
    load_mnist_multi,
)
from hashbench.data.literature import LIST_DATASETS, load_cifar10, load_list_dataset
from hashbench.data.splits import RetrievalData, Split
from hashbench.errors import ConfigError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    loader: Callable[[Path | None], RetrievalData]
    needs_root: bool


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "5,000 real MNIST digits (shipped), eps 0.3", load_mnist, False),
    "mnist_multi": DatasetInfo("mnist_multi", "multi-label digit canvases with tags, eps 0.3",
                               load_mnist_multi, False),
    "fashion_mnist": DatasetInfo("fashion_mnist", "70,000 Fashion-MNIST images (IDX), eps 0.1",
                                 load_fashion_mnist, False),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10 pickle batches, protocol cifar10-1, eps 8/255",
                           load_cifar10, True),
}
for _name, _spec in LIST_DATASETS.items():
    DATASETS[_name] = DatasetInfo(
        _name, f"list files, {_spec.n_classes} labels, mAP@{_spec.topk}, eps 8/255",
        partial(load_list_dataset, _name), True,
    )

_CACHE: dict[tuple[str, str], RetrievalData] = {}
# the datasets hashbench can download itself; the others' distributions are placed by hand
DOWNLOADABLE = ("cifar10", "fashion_mnist")


def how_to_get(name: str) -> str:
    """The command that puts dataset ``name`` in place."""
    if name in DOWNLOADABLE:
        return f"hashbench data download {name} --data-root DIR (or run with --download)"
    return f"hashbench data prepare {name} --from DIST --data-root DIR (DIST: its distribution)"


def load_dataset(name: str, root: Path | None = None) -> RetrievalData:
    """Load a dataset by name; ``root`` defaults to $HASHBENCH_DATA. Cached per process."""
    if name not in DATASETS:
        from hashbench.errors import close_matches

        raise ConfigError(f"unknown dataset '{name}'{close_matches(name, DATASETS)}")
    root = root if root is not None else data_root_from_env()
    key = (name, str(root))
    if key not in _CACHE:
        _CACHE[key] = DATASETS[name].loader(root)
    return _CACHE[key]


__all__ = ["DATASETS", "DOWNLOADABLE", "RetrievalData", "Split", "how_to_get", "load_dataset"]
