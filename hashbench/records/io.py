"""Result records: atomic writing, schema validation and loading.

One JSON record per cell, path = key; per-query arrays go to an ``.npz`` sidecar beside it,
referenced by relative path and sha256. Every write goes to a temporary file in the same folder
and is renamed into place, so no reader ever sees a partial file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Iterator

import jsonschema
import numpy as np

from hashbench.errors import ResultError

SCHEMA_VERSION = 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=".tmp")  # the pid: locks.clean_stale_temp_files
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(obj) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def sidecar_path(record_path: Path) -> Path:
    """Where a record's per-query arrays go: beside it, ``<attack>.queries.npz``."""
    return Path(record_path).with_suffix(".queries.npz")


def write_sidecar(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    """Write per-query arrays; return the reference stored in the record."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # numpy types **kwds as allow_pickle
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return {"path": path.name, "sha256": sha256_bytes(data), "arrays": sorted(arrays)}


def sidecar_bytes(record_path: Path, record: dict) -> bytes:
    """The bytes of a record's sidecar, checked: a plain file name beside the record (never a
    path leading elsewhere), present, and matching the record's sha256."""
    record_path = Path(record_path)
    ref = record.get("sidecar")
    if not ref:
        raise ResultError(f"{record_path}: the record has no per-query sidecar")
    name = ref["path"]
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name \
            or "\\" in name:
        raise ResultError(f"{record_path}: sidecar path {name!r} leaves the record's folder; a "
                          "sidecar is a file name beside its record")
    return read_verified(record_path.parent / name, ref["sha256"],
                         f"{record_path}: sidecar", "re-run the cell")


def read_verified(path: Path, sha256: str, what: str, fix: str) -> bytes:
    """The bytes of ``path``, which must hash to ``sha256``: a missing, truncated or changed
    file raises ResultError naming ``what`` and the ``fix``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ResultError(f"{what} {path} is missing ({err}); {fix}") from err
    if sha256_bytes(data) != sha256:
        raise ResultError(f"{what} {path} does not match its sha256 {sha256[:12]}: the file was "
                          f"changed or truncated; {fix}")
    return data


def read_sidecar(record_path: Path, record: dict) -> dict[str, np.ndarray]:
    data = sidecar_bytes(record_path, record)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise ResultError(f"{record_path}: sidecar is not a readable npz ({err})") from err


def schema() -> dict:
    text = resources.files("hashbench").joinpath(f"schemas/result.v{SCHEMA_VERSION}.json")
    return json.loads(text.read_text())


def validation_errors(record) -> list[str]:
    """'$.json.path: message' for every schema violation (empty when valid)."""
    validator = jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{e.json_path}: {e.message}" for e in
            sorted(validator.iter_errors(record), key=lambda e: e.json_path)]


def write_record(path: Path, record) -> None:
    """Write a record (a typed ``Record`` or its dict), schema-checked, atomically."""
    if hasattr(record, "to_dict"):
        record = record.to_dict()
    errors = validation_errors(record)
    if errors:  # a bug in hashbench itself: never write a record the schema refuses
        raise ResultError(f"refusing to write {path}: {errors[0]}")
    try:
        text = json.dumps(record, sort_keys=True, indent=1, allow_nan=False)
    except ValueError as err:  # NaN or inf in a metric: never written as valid JSON
        raise ResultError(f"refusing to write {path}: a number is not finite ({err})") from err
    atomic_write_bytes(path, (text + "\n").encode())


class _NotFinite:
    """What a NaN or Infinity in a record's text reads as, so that its field can be named."""

    def __init__(self, name: str):
        self.name = name


def _not_finite_field(value, where: str = "$") -> str | None:
    """The JSON path of the first NaN/Infinity in a parsed record, with its spelling."""
    if isinstance(value, _NotFinite):
        return f"{where} holds {value.name}"
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _not_finite_field(item, f"{where}[{key}]" if isinstance(key, int)
                                  else f"{where}.{key}")
        if found:
            return found
    return None


def shorten(text: str, limit: int = 300) -> str:
    """A message about a file's content, cut so that a huge record cannot flood the terminal."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_record(path: Path) -> dict:
    """Read and validate one record; a malformed file raises ResultError naming it (and, for a
    number that is not finite, the field that holds it)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_NotFinite)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultError(f"{path}: not a readable JSON record ({shorten(str(err))}); "
                          "re-run its cell or restore the file") from err
    except RecursionError as err:
        raise ResultError(f"{path}: nested too deeply to be a record; restore the file") from err
    try:
        bad = _not_finite_field(record)
    except RecursionError:
        bad = "a field nested too deeply"
    if bad:
        raise ResultError(f"{path}: {shorten(bad, 200)}; every number in a record must be "
                          "finite (re-run its cell)")
    errors = validation_errors(record)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ResultError(f"{path}: {shorten(errors[0])}{more}")
    return record


def write_result(path: Path, record, sidecar: bytes | None = None) -> None:
    """A record (and the bytes of its sidecar, when they were made elsewhere): sidecar first,
    record last, so a record on disk always has its sidecar."""
    if sidecar is not None:
        atomic_write_bytes(sidecar_path(path), sidecar)
    write_record(path, record)


def read_result(path: Path) -> tuple[dict, bytes | None]:
    """A validated record and its sidecar's bytes (to move them to another machine)."""
    record = load_record(path)
    return record, sidecar_bytes(path, record) if record["sidecar"] else None


def iter_record_paths(paths: list[Path]) -> Iterator[Path]:
    """Every ``*.json`` record under the given files and folders, sorted."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*.json") if not q.name.startswith("."))
        elif p.exists():
            yield p
        else:
            raise ResultError(f"{p}: no such file or folder")
