"""Trained models and their codes for a cell: loaded from the cache or trained once, in order
(vanilla first, then the defenses that fine-tune it)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from hashbench.api import Defense, HashingMethod, SourceModel, TrainContext
from hashbench.data import RetrievalData
from hashbench.errors import ConfigError, PluginError, one_line
from hashbench.harness.cells import training_eps
from hashbench.harness.evaluate import retrieval_data
from hashbench.harness.guards import blame, check_trained_model
from hashbench.harness.locks import lock_for
from hashbench.harness.provenance import declared_code
from hashbench.harness.store import ModelStore
from hashbench.harness.suites import CellSpec
from hashbench.harness.timing import PhaseClock
from hashbench.kit.seeding import generator
from hashbench.models.crossmodal import CrossModalSpec
from hashbench.models.hash_model import ModelSpec
from hashbench.models.pretrained import file_sha256, weights_path
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.records.io import config_hash
from hashbench.registry import attacks, defenses, make_loss, plugin_ref


@dataclass(frozen=True)
class ModelIdentity:
    """What determines a trained model: its cache key, defense, spec and parent (the vanilla
    model a defense fine-tunes), computed without training anything."""

    key: str
    instance: Defense
    ref: dict
    spec: ModelSpec | CrossModalSpec
    parent: "ModelIdentity | None"
    method: HashingMethod  # the hashing method plugin, built once per identity


@dataclass
class Provisioned:
    """A trained model with its cache key, checkpoint hash and codes."""

    model: torch.nn.Module
    key: str
    checkpoint_sha256: str
    defense_ref: dict
    codes: dict[str, torch.Tensor] = field(default_factory=dict)
    # a fine-tuned defense: the checkpoint sha256 of the model it started from
    parent_sha256: str | None = None


@dataclass(frozen=True)
class HandedInModel:
    """Where a model handed in whole (``hashbench.benchmark``) comes from: it serves the cells of
    (dataset, model id, defense, seed) as it is, and ``source`` is the suite cell whose vanilla
    model is its transfer attacks' source (the configuration it is measured beside)."""

    dataset: str
    model_id: str
    defense: str
    seed: int
    model: "Provisioned"
    source: CellSpec

    def serves(self, cell, defense: str) -> bool:
        return (cell.dataset, cell.model_id, defense, cell.seed) == \
            (self.dataset, self.model_id, self.defense, self.seed)


class Provisioner:
    def __init__(self, store: ModelStore, device: torch.device, progress: Progress = NULL_PROGRESS,
                 data_root: Path | None = None, amp: bool = False,
                 clock: PhaseClock | None = None, handed_in: HandedInModel | None = None,
                 zoo: Path | None | Literal[False] = None):
        self.store, self.device, self.progress = store, device, progress
        # the model zoo to take published checkpoints from (None: the default one; False: none)
        self.zoo = zoo
        self.data_root, self.amp = data_root, amp
        self.clock = clock or PhaseClock()
        self._memo: dict[str, Provisioned] = {}
        self._failed: dict[str, str] = {}  # cache key -> why its training failed in this run
        self.handed_in = handed_in
        self._sources: dict[tuple[str, str | None], SourceModel] = {}
        self.trained = 0
        self.from_zoo: dict[str, int] = {}  # zoo folder -> models taken from it

    def spec(self, cell, data: RetrievalData) -> ModelSpec | CrossModalSpec:
        weights = weights_path(cell.backbone, self.data_root)
        return cell.track.spec(dict(method=cell.method, backbone=cell.backbone, bits=cell.bits,
                                    in_channels=data.image_shape[0], n_classes=data.n_classes,
                                    weights=str(weights) if weights else None), data)

    def identity(self, cell, data: RetrievalData, defense: str) -> ModelIdentity:
        """The cache key of ``cell``'s model defended by ``defense`` (with the suite's
        parameters of it), without training it."""
        instance = defenses.create(defense, **cell.params_of(defense))
        ref = plugin_ref(defenses, defense, instance)
        modality = cell.track.name
        if type(instance).modality != modality:
            kind = {"image": "image hashing", "image-text": "image-text hashing"}
            raise ConfigError(
                f"defense '{defense}' trains {kind[type(instance).modality]} models, but this "
                f"cell's group is {kind[modality]}; use a {modality} defense "
                f"({', '.join(n for n in defenses.names() if _modality(n) == modality)})")
        parent = None
        start = type(instance).starts_from
        if start != "scratch" and start != defense:
            parent = self.identity(cell, data, start)
        spec = self.spec(cell, data)
        method, method_part, _ = cell.track.method(cell)
        protocol = cell.track.protocol_hash(data)
        key = config_hash({
            # the weights' content, not their path, determines the model
            "spec": {**spec.to_dict(), "weights": file_sha256(spec.weights) if spec.weights
                     else None}, **{k: _declared_ref(v) for k, v in method_part.items()},
            "protocol_hash": protocol, "seed": cell.seed, "defense": _declared_ref(ref),
            # declared versions, not source bytes (docs/versions.md)
            "code": declared_code(type(instance), type(method), *_inner_attacks(instance)),
            "parent": parent.key if parent else None,
            # a group budget trains another model, unless the defense never reads eps
            **({"train_eps": cell.train_eps}
               if cell.train_eps is not None and type(instance).uses_eps else {}),
            # so does a group text budget (text adversarial training flips that many tags)
            **({"text_flips": cell.text_flips}
               if cell.text_flips is not None and type(instance).uses_eps else {}),
            # mixed precision trains a different model; fp32 keys stay as they were
            **({"precision": "amp"} if self.amp else {}),
        })
        return ModelIdentity(key, instance, ref, spec, parent, method)

    def get(self, cell, data: RetrievalData, defense: str) -> Provisioned:
        """The model of ``cell`` defended by ``defense`` (trained or loaded), with its codes."""
        if self.handed_in is not None and self.handed_in.serves(cell, defense):
            return self.handed_in.model
        ident = self.identity(cell, data, defense)
        key, instance, ref = ident.key, ident.instance, ident.ref
        if key in self._memo:
            return self._memo[key]
        if key in self._failed:  # a model is trained at most once per run, even when it fails
            raise PluginError(f"defense '{defense}' failed to train this model earlier in this "
                              f"run: {self._failed[key]}")
        loaded = self.store.load_model(key, self.device)
        if loaded is None:
            parent = self.get(cell, data, type(instance).starts_from) if ident.parent else None
            # another run on the same cache may be training this model: wait for it, then
            # load its checkpoint instead of training the same model twice
            with lock_for(self.store.root, "model", key):
                loaded = self.store.load_model(key, self.device) or \
                    self._from_zoo(key, cell, defense)
                if loaded is None:
                    try:
                        with self.clock.phase("training"):
                            model = self.train(cell, data, ident, parent)
                            sha = self.store.save_model(key, model, {"defense": ref,
                                                                     "dataset": data.name})
                    except BaseException as err:  # a time limit included
                        self._failed[key] = one_line(err)
                        raise
                    self.trained += 1
        if loaded is not None:
            model, sha = loaded
        parent_sha = None
        if ident.parent:  # in memory when it was just trained; else its cached file's hash
            known = self._memo.get(ident.parent.key)
            parent_sha = known.checkpoint_sha256 if known else \
                self.store.checkpoint_sha256(ident.parent.key)
        with self.clock.phase("codes"):
            result = Provisioned(model, key, sha, ref, self._codes(cell, key, model, data), parent_sha)
        self._memo[key] = result
        return result

    def _from_zoo(self, key: str, cell, defense: str) -> tuple[torch.nn.Module, str] | None:
        """Model ``key`` (``cell``'s model defended by ``defense``) from the model zoo, copied
        into the cache, when the zoo publishes it (``zoo.published_checkpoint``): a published
        checkpoint is never trained again."""
        from hashbench.harness.cells import suite_folder
        from hashbench.zoo import default_root, published_checkpoint

        if self.zoo is False:
            return None
        name = f"{suite_folder(cell.suite, cell.suite_version)}/{cell.dataset}/" \
            f"{cell.model_id}/{defense}"
        root = self.zoo or default_root()
        data = published_checkpoint(key, name, cell.seed, cell.params_of(defense), root)
        if data is None:
            return None
        self.from_zoo[str(root)] = self.from_zoo.get(str(root), 0) + 1
        self.store.put_checkpoint(key, data)
        return self.store.load_model(key, self.device)

    def available(self, ident: ModelIdentity, cell) -> bool:
        """Whether model ``ident`` (of ``cell``'s configuration) needs no training: cached, or
        published in the zoo (by key, or by its published name and seed)."""
        if self.store.has(ident.key) or self.handed_in is not None:
            return True
        if self.zoo is False:
            return False
        from hashbench.harness.cells import suite_folder
        from hashbench.zoo import MANIFEST, default_root, entries

        root = self.zoo or default_root()
        if not (root / MANIFEST).is_file():
            return False
        name = f"{suite_folder(cell.suite, cell.suite_version)}/{cell.dataset}/" \
            f"{cell.model_id}/{ident.ref['name']}"
        return any(e.cache_key == ident.key or (e.name == name and e.seed == cell.seed)
                   for e in entries(root))

    def forget(self, key: str | None) -> None:
        """Drop the in-memory copy of model ``key`` (an attack changed it): the next cell loads
        its checkpoint again."""
        if key is not None:
            self._memo.pop(key, None)
        self._sources = {k: v for k, v in self._sources.items() if k[0] != key}

    def source_model(self, cell, data: RetrievalData) -> SourceModel:
        """The undefended model of ``cell``'s configuration (its vanilla checkpoint, as the
        query side of an image-text cell sees it), for transfer attacks; one per run, so its
        memoised adversarial queries serve every defense."""
        # a handed-in model's source is the vanilla model of the suite configuration it is
        # measured beside, seen from the cell's own direction
        if self.handed_in is not None and self.handed_in.serves(cell, self.handed_in.defense):
            cell = dataclasses.replace(self.handed_in.source, direction=cell.direction)
        return self._as_source(cell, data, self.get(cell, data, cell.baseline))

    def surrogate_model(self, cell, data: RetrievalData, backbone: str, method: str
                        ) -> SourceModel:
        """An undefended model of ``backbone`` and ``method`` with ``cell``'s bits, data and seed
        (the suite's vanilla recipe), trained once and cached like any model: the surrogate of
        a cross-architecture transfer attack."""
        twin = dataclasses.replace(cell, backbone=backbone, method=method, defense=cell.baseline,
                                   defense_params=cell.vanilla_params, parent_params={})
        return self._as_source(twin, data, self.get(twin, data, twin.baseline))

    def _as_source(self, cell, data: RetrievalData, prov: Provisioned) -> SourceModel:
        """``prov`` as the query side of ``cell`` sees it, wrapped once per run as a transfer
        source (its memoised adversarial queries then serve every cell that reads it)."""
        prov = cell.track.view(prov, cell.direction)
        if (prov.key, cell.direction) not in self._sources:
            self._sources[(prov.key, cell.direction)] = SourceModel(
                prov.model, _draws(cell, prov.key, cell.baseline),
                retrieval_data(prov, data, self.device))
        return self._sources[(prov.key, cell.direction)]

    def train(self, cell, data, ident: ModelIdentity, parent) -> torch.nn.Module:
        """The model of ``ident`` trained by its defense (from ``parent.model``, a copy, when
        it fine-tunes one), checked, in eval mode; nothing is cached."""
        instance, spec, key, method = ident.instance, ident.spec, ident.key, ident.method
        model = copy.deepcopy(parent.model) if parent is not None else \
            cell.track.new_model(spec, cell.seed).to(self.device)
        ctx = TrainContext(
            # the protocol's budget, or the group's: a group's eps list sweeps the attacks only,
            # and the model must not depend on which eps cell came first
            seed=cell.seed, scope=f"{data.name}/{cell.model_id}/{instance.name}",
            eps=training_eps(cell, data.eps),
            train_labels=data.train.labels, database_labels=data.database.labels,
            make_hash_loss=lambda: make_loss(cell.method, data.train.labels, cell.bits,
                                             generator(cell.seed, _draws(cell, key, instance.name),
                                                       "loss")).to(self.device),
            attack=attacks.create, progress=self.progress, amp=self.amp,
            text_flips=cell.flips(data.text_flips),
        )
        cell.track.configure(ctx, method, data)
        plugin = f"defense '{instance.name}'"
        with blame(plugin):
            trained = instance.fit(model, data.train, ctx)
        return check_trained_model(trained, instance.name).eval()

    def _codes(self, cell, key: str, model, data: RetrievalData) -> dict[str, torch.Tensor]:
        codes = self.store.load_codes(key)
        if codes is None:
            codes = cell.track.codes(model, data)
            self.store.save_codes(key, codes)
        return {k: v.to(self.device) for k, v in codes.items()}



def _declared_ref(ref):
    """A plugin reference as a model key holds it: a first-party plugin without its
    distribution's version (hashbench's release, which trains nothing differently; its
    ``version`` says when its numbers change), a third party's with it."""
    if not isinstance(ref, dict) or "dist_version" not in ref or ref.get("third_party"):
        return ref
    return {k: v for k, v in ref.items() if k != "dist_version"}


def _draws(cell, key: str, defense: str) -> str:
    """What the seeded draws of ``cell``'s model defended by ``defense`` are scoped by: its
    cache key, or (``generators = "cell"``) its identity, which no code edit moves."""
    return key if cell.generators == "key" else f"{cell.draw_scope}/{defense}"


def _inner_attacks(defense) -> list[type]:
    """The attack classes a defense names in its parameters (``inner_attack``...): a changed
    inner attack trains another model."""
    found = []
    for f in dataclasses.fields(defense.params):
        value = getattr(defense.params, f.name)
        if f.name.endswith("attack") and isinstance(value, str) and value in attacks.names():
            found.append(attacks.get(value))
    return found


def _modality(name: str) -> str | None:
    try:
        return defenses.get(name).modality
    except PluginError:
        return None
