"""Where hashbench's own files are: the installed package, the checkout holding it (when it is
one) and the model zoo. One place, so that no module ties behaviour to where it itself sits."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # hashbench/, whichever module asks


@lru_cache(maxsize=1)
def checkout_root() -> Path | None:
    """The repository checkout holding the package (its pyproject.toml beside ``hashbench/``), or
    None for an installed wheel."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "hashbench").is_dir() else None


def zoo_root() -> Path:
    """Where the model zoo is: ``$HASHBENCH_ZOO``; else ``zoo/`` of the checkout holding the
    package; else, for an installed wheel (which does not carry the zoo's checkpoints), ``zoo/``
    of the working folder when it holds a zoo manifest (a clone of the repository, say)."""
    env = os.environ.get("HASHBENCH_ZOO")
    if env:
        return Path(env)
    root = checkout_root()
    if root is not None:
        return root / "zoo"
    return Path.cwd() / "zoo"
