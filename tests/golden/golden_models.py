"""The golden models: for every first-party defense and hashing method, a tiny model trained a few
steps through the harness's own training path (``Provisioner``: the same context, hashing loss,
inner attacks and seeded draws as a suite's model), on one torch thread with the protocol's CPU
kernels, and the sha256 of its weights.

A model's cache key holds declared versions, not source bytes (``hashbench.MODEL_CODE_VERSION``
and each plugin's ``version``), so these pins are what catches a change that trains other
weights without a version bump. ``weights.json`` holds, per case, the pinned hash, the versions
it was made under, and fingerprints of the sources (the core's and the plugin's module) that
only serve to say which version to bump when a pin breaks. ``python tests/golden/repin.py``
rewrites the file after a deliberate bump.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import torch

from hashbench import MODEL_CODE_VERSION
from hashbench.data import load_dataset
from hashbench.harness.provenance import core_fingerprint, first_party, source_fingerprint
from hashbench.harness.provision import Provisioner
from hashbench.harness.store import ModelStore
from hashbench.harness.suites import CellSpec
from hashbench.registry import defenses, methods

PINS = Path(__file__).with_name("weights.json")
N_TRAIN = 64
# a few steps of everything a defense does: one epoch of two batches, two inner attack steps
FAST = {"epochs": 1, "batch_size": 32, "steps": 2, "proto_steps": 3}

# (case, defense, method, dataset): each first-party defense under the track's reference method,
# each first-party method under the track's vanilla training
IMAGE, IMAGE_TEXT = ("mnist", "dpsh", "vanilla"), ("mnist_multi", "dcmh", "cm_vanilla")
CASES = {
    **{f"defense:{d}": (d, IMAGE[1], IMAGE[0]) for d in ("vanilla", "atrdh", "cgat", "saat")},
    **{f"method:{m}": (IMAGE[2], m, IMAGE[0]) for m in ("dpsh", "dph", "hashnet", "csq")},
    **{f"defense:{d}": (d, IMAGE_TEXT[1], IMAGE_TEXT[0])
       for d in ("cm_vanilla", "cm_cgat", "cm_saat")},
    **{f"method:{m}": (IMAGE_TEXT[2], m, IMAGE_TEXT[0]) for m in ("dcmh", "ssah", "rmsh")},
}


def _fast(defense: str) -> dict:
    fields = {f.name for f in dataclasses.fields(defenses.get(defense).Params)}
    return {k: v for k, v in FAST.items() if k in fields}


def _cell(defense: str, method: str, dataset: str) -> CellSpec:
    image_text = dataset == IMAGE_TEXT[0]
    baseline = IMAGE_TEXT[2] if image_text else IMAGE[2]
    return CellSpec(suite="golden", suite_version=1, dataset=dataset, method=method,
                    backbone="small_cnn", bits=16, defense=defense,
                    defense_params=_fast(defense), attack="clean", attack_params={}, eps=None,
                    queries=None, topk=None, seed=0, vanilla_params=_fast(baseline),
                    direction="i2t" if image_text else None, generators="cell")


def _train(prov: Provisioner, cell: CellSpec, data, defense: str) -> torch.nn.Module:
    """``defense``'s model of ``cell`` trained in memory, its parents first (nothing cached)."""
    ident = prov.identity(cell, data, defense)
    parent = None
    if ident.parent is not None:
        start = type(ident.instance).starts_from
        parent = SimpleNamespace(model=_train(prov, cell, data, start))
    return prov.train(cell, data, ident, parent)


def weights_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def train_case(case: str, cache: Path) -> str:
    """The sha256 of ``case``'s golden model's weights, trained on one torch thread."""
    defense, method, dataset = CASES[case]
    full = load_dataset(dataset)
    data = dataclasses.replace(full, train=full.train.subset(torch.arange(N_TRAIN)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = _train(Provisioner(ModelStore(cache), torch.device("cpu")),
                       _cell(defense, method, dataset), data, defense)
    finally:
        torch.set_num_threads(threads)
    return weights_sha256(model)


def plugin_of(case: str) -> type:
    kind, name = case.split(":")
    return (defenses if kind == "defense" else methods).get(name)


def plugin_sources(cls: type) -> str:
    """Fingerprint of the first-party plugin modules ``cls`` is made of (its class, the plugin
    classes it extends and its family's shared module, as CgAT's loop): diagnosis only."""
    import inspect

    files = sorted({inspect.getsourcefile(k) for k in cls.__mro__ if first_party(k)
                    and k.__module__.split(".")[1:2] in (["attacks"], ["defenses"], ["methods"])})
    return hashlib.sha256("".join(source_fingerprint(f) for f in files).encode()).hexdigest()


def where(cls: type) -> str:
    import inspect

    path = Path(inspect.getsourcefile(cls))
    root = Path(__file__).resolve().parents[2]
    return str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) \
        else str(path)


def machine() -> str:
    """The CPU and the kernels it ran: what to compare when a pin breaks with no code change."""
    from hashbench.cpu_kernels import mkl_path
    from hashbench.harness.provenance import cpu_model

    mkl = mkl_path()
    return (f"{cpu_model()}, ATen {torch.backends.cpu.get_cpu_capability()}, "
            f"MKL {mkl[1] if mkl else 'none'}")


def pin(case: str, weights: str) -> dict:
    cls = plugin_of(case)
    return {"weights_sha256": weights, "model_code_version": MODEL_CODE_VERSION,
            "plugin_version": int(cls.version), "core_sources": core_fingerprint(),
            "plugin_sources": plugin_sources(cls), "torch": torch.__version__,
            "machine": machine()}


def load_pins() -> dict:
    return json.loads(PINS.read_text()) if PINS.is_file() else {}


def verdict(case: str, weights: str, pinned: dict | None) -> str | None:
    """None when ``case``'s weights are its pin's; else the one line that says what to do."""
    cls = plugin_of(case)
    kind, name = case.split(":")
    label = f"{kind} '{name}' ({where(cls)}, version {cls.version})"
    repin = "then run `python tests/golden/repin.py`"
    if pinned is None:
        return f"{label} has no golden pin: run `python tests/golden/repin.py`"
    bumped = (pinned["model_code_version"], pinned["plugin_version"]) != \
        (MODEL_CODE_VERSION, int(cls.version))
    if weights == pinned["weights_sha256"]:
        return None if not bumped else \
            f"{label}: its versions changed since its pin but not its weights; {repin}"
    if bumped:
        return f"{label} trains other weights after a version bump; {repin}"
    core = core_fingerprint() != pinned["core_sources"]
    own = plugin_sources(cls) != pinned["plugin_sources"]
    bump_core = f"bump MODEL_CODE_VERSION in hashbench/__init__.py (now {MODEL_CODE_VERSION})"
    bump_own = f"bump {cls.__name__}.version in {where(cls)} (now {cls.version})"
    if core and not own:
        what = f"hashbench's model code changed: {bump_core}"
    elif own and not core:
        what = f"its module changed: {bump_own}"
    elif own and core:
        what = f"both its module and hashbench's model code changed: {bump_own} if the " \
            f"change is in the plugin, else {bump_core}"
    else:
        what = (f"neither its module nor hashbench's model code changed since the pin (made "
                f"with torch {pinned['torch']}, now {torch.__version__}): the environment "
                "trains other weights; re-pin only if that is expected")
    here, there = machine(), pinned.get("machine")
    if there and here != there:  # kernels that escaped the pin would show here
        what += f" (pinned on {there}; this machine: {here})"
    return f"{label} trains other weights than its golden pin without a version bump; " \
        f"{what}, {repin}"
