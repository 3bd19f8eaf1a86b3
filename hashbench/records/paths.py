"""Paths built from data hashbench does not control: one name pattern for every folder or file
name taken from a suite, a record, a zoo manifest or an annotation, and one confinement check
that a path (symlinks resolved) stays inside the folder it was given.

A record's ``cell`` is free-form in the result schema, a manifest's ``file`` is a string, a
suite folder inside ``--results`` may be a symlink: without these checks a crafted file could
make hashbench read or write anywhere the user can.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from hashbench.errors import ConfigError

# one path component: starts with a letter or digit (so never "." or ".."), then letters,
# digits, "_", "-" and "." only; hashbench's own names (suites, datasets, model ids, plugins,
# seed<N>, eps<e>, i2t/t2i) all have this shape
COMPONENT_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


def check_component(value, what: str, where: str, error=ConfigError) -> str:
    """``value`` if it is a safe path component (``COMPONENT_RE``), else ``error`` naming it."""
    if not isinstance(value, str) or not COMPONENT_RE.match(value) or ".." in value:
        shown = repr(value)[:80]
        raise error(f"{where}: {what} {shown} is not a plain name (lowercase letters, digits, "
                    "'_', '-', '.'; no path separators or '..'); fix the name")
    return value


def check_relative(value, where: str, error=ConfigError) -> PurePosixPath:
    """A relative POSIX path made of safe components (a manifest's file entry)."""
    if not isinstance(value, str) or not value or value.startswith("/") or "\\" in value:
        raise error(f"{where}: path {repr(value)[:80]} must be relative, with '/' separators")
    rel = PurePosixPath(value)
    for part in rel.parts:
        check_component(part, "path component", where, error)
    return rel


def inside(root: Path, path: Path, where: str, error=ConfigError) -> Path:
    """``path`` resolved (symlinks followed), checked to lie inside ``root`` resolved: a
    symlinked folder that leads elsewhere is refused, not written through."""
    real_root = Path(root).resolve()
    real = Path(path).resolve()
    if real != real_root and real_root not in real.parents:
        raise error(f"{where}: {path} resolves to {real}, outside {root}; remove the symlink or "
                    "the '..' that leads there")
    return path


def overlaps(a: Path, b: Path) -> bool:
    """Whether one of the two folders is, contains or lies inside the other (resolved)."""
    ra, rb = Path(a).resolve(), Path(b).resolve()
    return ra == rb or ra in rb.parents or rb in ra.parents
