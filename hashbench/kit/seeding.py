"""Explicit random generators derived from (root seed, scope, purpose); no global RNG anywhere.

Every random choice in hashbench (splits, query subsets, target labels, anchor members, random
starts, minibatch order, weight init) takes a ``torch.Generator`` from :func:`generator`, so the same
root seed gives the same numbers on CPU whatever else ran before.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def derive_seed(root: int, *scope: object) -> int:
    """A 63-bit seed that depends on the root seed and every element of ``scope``."""
    text = "\x1f".join([str(int(root)), *map(str, scope)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(root: int, *scope: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh torch generator seeded from ``(root, *scope)``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(root, *scope))
    return gen


def numpy_rng(root: int, *scope: object) -> np.random.Generator:
    """A fresh numpy generator seeded from ``(root, *scope)`` (for index-level choices)."""
    return np.random.Generator(np.random.PCG64(derive_seed(root, *scope)))
