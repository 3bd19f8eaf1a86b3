"""What a report owns in its output folder, and the checks made before it writes anything.

A report writes its boards, its record copies (``records/``), its figures (``plots/``) and a
manifest of every file it wrote (``MANIFEST``). On the next render it removes only files that
manifest lists and the new board no longer needs: a file it did not write is never deleted,
whatever folder ``--out`` names.

Before anything is written, ``check_out`` refuses (one line, exit 2) an output folder that is,
contains or lies inside a results folder it reads; a folder it would write into (the output
folder, ``records/``, ``plots/`` and every folder below them) that is a symlink or resolves
outside the output folder; and the shipped board rendered from anything but the shipped
results.
"""

from __future__ import annotations

import json
from pathlib import Path

from hashbench.errors import ConfigError
from hashbench.records.io import atomic_write_bytes
from hashbench.records.paths import overlaps

MANIFEST = ".hashbench-report.json"
WRITTEN_FOLDERS = ("records", "plots")


def check_out(out: Path, results_dirs: list[Path], shipped_results: Path | None,
              shipped_board: Path | None) -> None:
    """Refuse, before anything is written, an output folder the report must not write into."""
    out = Path(out)
    for folder in results_dirs:
        if overlaps(out, Path(folder)):
            raise ConfigError(f"--out {out} overlaps --results {folder}: a report never writes "
                              "among records; give an output folder outside every results "
                              "folder (default: hashbench-report/)")
    if shipped_board is not None and out.resolve() == Path(shipped_board).resolve():
        given = [Path(d).resolve() for d in results_dirs]
        if shipped_results is None or given != [Path(shipped_results).resolve()]:
            raise ConfigError(f"--out {out} is the shipped board: it is rendered from "
                              f"{shipped_results} alone (`hashbench report`); write a board of "
                              "other or merged results elsewhere (--out DIR)")
    for path in _written_folders(out):
        if path.is_symlink():
            raise ConfigError(f"--out {out}: {path} is a symlink; a report writes only into "
                              "real folders inside its output folder (remove the link)")
        if path.exists() and not _within(path, out):
            raise ConfigError(f"--out {out}: {path} resolves to {path.resolve()}, outside the "
                              "output folder; remove what leads there")


def _written_folders(out: Path) -> list[Path]:
    """The output folder and every existing folder below the ones the report writes into."""
    found = [out]
    for name in WRITTEN_FOLDERS:
        top = out / name
        found.append(top)
        if top.is_dir() and not top.is_symlink():
            found += [p for p in sorted(top.rglob("*")) if p.is_dir() or p.is_symlink()]
    return found


def _within(path: Path, root: Path) -> bool:
    real, real_root = path.resolve(), root.resolve()
    return real == real_root or real_root in real.parents


def owned(out: Path) -> set[str]:
    """The files (relative to ``out``) the last report there wrote, as its manifest says; a
    missing or unreadable manifest owns nothing."""
    try:
        data = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"] if isinstance(data, dict) else []
        return {f for f in files if isinstance(f, str)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def tidy(out: Path, before: set[str], now: set[str]) -> list[Path]:
    """Remove the files the last report wrote that this one did not (a row no board shows any
    more): only regular files inside ``out``, never through a link. Returns what went."""
    out, gone = Path(out), []
    for rel in sorted(before - now):
        path = out / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute() or path.is_symlink() or \
                not path.is_file() or not _within(path.parent, out):
            continue
        path.unlink()
        gone.append(path)
    return gone


def write_manifest(out: Path, now: set[str]) -> None:
    text = json.dumps({"written_by": "hashbench report", "files": sorted(now)}, indent=1)
    atomic_write_bytes(Path(out) / MANIFEST, (text + "\n").encode())
