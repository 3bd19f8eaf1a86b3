"""The model zoo: the checkpoints of published suites, each tied to the record that measured it.

``zoo/manifest.json`` (at the repository root, or the folder ``$HASHBENCH_ZOO`` names) lists one
entry per checkpoint: its name ``<suite folder>/<dataset>/<model>/<defense>``, its seed, its
file (relative to the manifest), the file's sha256 (the ``checkpoint_sha256`` of its records),
the cache key, and the clean record it was measured by with that record's clean mAP.
``load_model`` checks the sha256 and loads weights only (no pickled code).

``build_zoo`` makes the zoo from a results folder and the model cache that computed it: it
copies only checkpoints whose bytes hash to what the records name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import torch

from hashbench.errors import ConfigError, ResultError, one_line
from hashbench.locations import zoo_root
from hashbench.records.io import (
    atomic_write_bytes,
    iter_record_paths,
    load_record,
    read_verified,
    sha256_bytes,
)
from hashbench.records.paths import check_component, check_relative, inside
from hashbench.records.published import published_checkpoint as published_checkpoint_sha

MANIFEST = "manifest.json"
ZOO_VERSION = 1


@dataclass(frozen=True)
class ZooEntry:
    name: str  # <suite folder>/<dataset>/<model id>/<defense>
    seed: int
    file: str  # relative to the manifest's folder
    sha256: str
    cache_key: str
    record: str  # the clean record that measured it, relative to the repository root
    clean_map: float
    topk: int | None
    direction: str | None = None


def default_root() -> Path:
    """``$HASHBENCH_ZOO``, else ``zoo/`` of the checkout holding hashbench (``locations``)."""
    return zoo_root()


def entries(root: Path | None = None) -> list[ZooEntry]:
    root = Path(root or default_root())
    path = root / MANIFEST
    if not path.is_file():
        raise ConfigError(f"no model zoo at {root} (no {MANIFEST}); use a hashbench checkout, "
                          "or set HASHBENCH_ZOO to a folder holding the zoo's manifest.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("zoo_version") != ZOO_VERSION:
            raise ValueError(f"zoo_version {data.get('zoo_version')!r}, expected {ZOO_VERSION}")
        found = [ZooEntry(**e) for e in data["models"]]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as err:
        raise ResultError(f"{path}: not a hashbench zoo manifest ({one_line(err)})") from err
    for i, e in enumerate(found):  # a manifest entry never points outside its zoo
        where = f"{path}: models[{i}]"
        check_relative(e.name, where, ResultError)
        if len(PurePosixPath(e.name).parts) != 4:
            raise ResultError(f"{where}: name {e.name[:80]!r} is not <suite folder>/<dataset>/"
                              "<model>/<defense>; fix the entry")
        check_relative(e.file, where, ResultError)
        if not e.file.endswith(".pt") or isinstance(e.seed, bool) or not isinstance(e.seed, int):
            raise ResultError(f"{where}: file {e.file[:80]!r} (a .pt file) or seed {e.seed!r} "
                              "(an integer) is malformed; fix the entry")
    return found


def find(name: str, seed: int = 0, root: Path | None = None) -> ZooEntry:
    from hashbench.errors import close_matches

    known = entries(root)
    for e in known:
        if e.name == name and e.seed == seed:
            return e
    names = sorted({e.name for e in known})
    if name in names:
        seeds = sorted(e.seed for e in known if e.name == name)
        raise ConfigError(f"zoo model {name!r} has no seed {seed}; its seeds: "
                          f"{', '.join(map(str, seeds))}")
    raise ConfigError(f"no zoo model {name!r}{close_matches(name, names)}; `hashbench zoo` "
                      "lists them")


def published_checkpoint(key: str, name: str, seed: int, params: dict,
                         root: Path | None = None) -> bytes | None:
    """The zoo's checkpoint of a model (sha256-checked against the manifest), or None when the
    zoo has none or there is no zoo. A model is found by its cache key (which hashes everything
    that determines it: spec, data, seed, recipe, code), else by its published identity: the
    entry ``name`` (``<suite folder>/<dataset>/<model>/<defense>``) of root seed ``seed``,
    when the record that measured it, where present, trained it with ``params``. The second
    way keeps a published checkpoint in use after a code change moves cache keys: a defense
    added to a published suite is then fine-tuned from the very vanilla model its board
    measures."""
    base = Path(root or default_root())
    if not (base / MANIFEST).is_file():
        return None
    known = entries(base)
    entry = next((e for e in known if e.cache_key == key), None) or next(
        (e for e in known if e.name == name and e.seed == seed
         and _trained_with(base, e, params)), None)
    if entry is None:
        return None
    path = inside(base, base / entry.file, f"zoo model {entry.name} seed {entry.seed}",
                  ResultError)
    expected = published_checkpoint_sha(entry.name, entry.seed)
    if expected and entry.sha256 not in expected:
        raise ResultError(
            f"zoo {base}: {path} is listed as the published {entry.name} seed {entry.seed}, "
            f"but its sha256 {entry.sha256[:12]} is not the published record's "
            f"({', '.join(sorted(e[:12] for e in expected))}); remove it from that zoo (or "
            "unset HASHBENCH_ZOO), or pass --no-zoo to train the model instead")
    return read_verified(path, entry.sha256, f"zoo model {entry.name} seed {entry.seed}:",
                         "restore it from the repository (git checkout zoo/)")


def _trained_with(base: Path, entry: ZooEntry, params: dict) -> bool:
    """Whether the record that measured ``entry`` (when it can be read: a checkout's zoo, whose
    records sit beside it) names ``params`` as its defense's suite parameters."""
    record = base.parent / entry.record
    if not record.is_file():
        return True  # the published name is the identity (suite names are reserved)
    try:
        return load_record(record)["cell"]["defense_params"] == params
    except (ResultError, KeyError, TypeError):
        return False


def load_model(name: str, seed: int = 0, device: str | torch.device = "cpu",
               root: Path | None = None) -> torch.nn.Module:
    """The published model ``name`` (e.g. ``"standard-v2/mnist/dpsh-small_cnn-32b/cgat"``) of
    root seed ``seed``, in eval mode: its file's sha256 checked against the manifest (which is
    its records' checkpoint_sha256), its weights loaded without unpickling code."""
    from hashbench.harness.store import model_from_checkpoint

    entry = find(name, seed, root)
    base = Path(root or default_root())
    path = inside(base, base / entry.file, f"zoo model {name} seed {seed}", ResultError)
    expected = published_checkpoint_sha(name, seed)
    if expected and entry.sha256 not in expected:
        raise ResultError(f"zoo {base}: {path} is not the published {name} seed {seed} (its "
                          f"sha256 {entry.sha256[:12]} is not the published record's); use "
                          "the repository's zoo (unset HASHBENCH_ZOO)")
    data = read_verified(path, entry.sha256, f"zoo model {name} seed {seed}:",
                         "restore it from the repository (git checkout zoo/)")
    return model_from_checkpoint(data, torch.device(device), str(path))


def build_zoo(results: Path, cache: Path, out: Path,
              repo_root: Path | None = None) -> list[ZooEntry]:
    """Copy the checkpoint of every ok clean record under ``results`` from ``cache`` into
    ``out`` (``<suite folder>/<dataset>/<model>/<defense>/seed<N>.pt``) and write the manifest.
    A checkpoint whose bytes do not hash to the record's checkpoint_sha256 is refused."""
    results, cache, out = Path(results), Path(cache), Path(out)
    repo_root = Path(repo_root or Path.cwd())
    found: dict[tuple[str, int], ZooEntry] = {}
    for path in iter_record_paths([results]):
        rec = load_record(path)
        if rec["status"] != "ok" or rec["cell"]["attack"] != "clean":
            continue
        cell, model = rec["cell"], rec["model"]
        rel = path.resolve().relative_to(results.resolve().parent)
        suite_folder, dataset = rel.parts[0], rel.parts[1]
        for what, value in (("suite folder", suite_folder), ("dataset", dataset),
                            ("model", rel.parts[2]), ("cell.defense", cell["defense"])):
            check_component(value, what, str(path), ResultError)
        name = f"{suite_folder}/{dataset}/{rel.parts[2]}/{cell['defense']}"
        seed = cell["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ResultError(f"{path}: cell.seed {seed!r} is not a seed (an integer in "
                              "[0, 2^32)); fix the record")
        if (name, seed) in found:  # the i2t and t2i records of one image-text model
            continue
        src = cache / "models" / f"{model['cache_key']}.pt"
        try:
            data = src.read_bytes()
        except OSError as err:
            raise ResultError(f"{path}: its checkpoint {src} is not in the cache ({err})") from err
        if sha256_bytes(data) != model["checkpoint_sha256"]:
            raise ResultError(f"{path}: {src} does not hash to the record's checkpoint_sha256")
        file = f"{name}/seed{seed}.pt"
        atomic_write_bytes(inside(out, out / file, str(path), ResultError), data)
        try:
            record_rel = str(path.resolve().relative_to(repo_root.resolve()))
        except ValueError:
            record_rel = str(path)
        found[(name, seed)] = ZooEntry(name, seed, file, model["checkpoint_sha256"],
                                       model["cache_key"], record_rel,
                                       float(rec["metrics"]["clean_map"]),
                                       rec["metrics"].get("topk"), cell.get("direction"))
    if not found:
        raise ResultError(f"{results}: no ok clean record to take a checkpoint from")
    old = entries(out) if (out / MANIFEST).is_file() else []
    merged = {(e.name, e.seed): e for e in old} | found
    models = [asdict(merged[k]) for k in sorted(merged)]
    text = json.dumps({"zoo_version": ZOO_VERSION, "models": models}, indent=1, sort_keys=True)
    atomic_write_bytes(out / MANIFEST, (text + "\n").encode())
    return list(found.values())
