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
    """``$HASHBENCH_ZOO``, else ``zoo/`` of the checkout (a wheel has no zoo: set the variable)."""
    env = os.environ.get("HASHBENCH_ZOO")
    if env:
        return Path(env)
    root = checkout_root()
    return (root or PACKAGE_DIR.parent) / "zoo"
