"""Trained models and their codes for a cell: loaded from the cache or trained once, in order
(vanilla first, then the defenses that fine-tune it)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hashbench import __version__
from hashbench.api import TrainContext
from hashbench.data import RetrievalData
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.models.losses import HASH_METHODS, make_loss
from hashbench.models.pretrained import file_sha256, weights_path
from hashbench.params import params_to_dict
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.provenance import code_fingerprint
from hashbench.records import config_hash
from hashbench.registry import attacks, defenses
from hashbench.seeding import generator
from hashbench.store import ModelStore
from hashbench.timing import PhaseClock
from hashbench.training import encode_split


def plugin_ref(registry, name: str, instance) -> dict:
    entry = registry.entry(name)
    return {"name": name, "version": int(type(instance).version),
            "params": params_to_dict(instance.params), "distribution": entry.distribution,
            "dist_version": entry.dist_version, "third_party": entry.third_party}


@dataclass(frozen=True)
class ModelIdentity:
    """What determines a trained model: its cache key, defense, spec and parent (the vanilla
    model a defense fine-tunes), computed without training anything."""

    key: str
    instance: object
    ref: dict
    spec: ModelSpec
    parent: "ModelIdentity | None"


@dataclass
class Provisioned:
    """A trained model with its cache key, checkpoint hash and codes."""

    model: HashModel
    key: str
    checkpoint_sha256: str
    defense_ref: dict
    codes: dict[str, torch.Tensor] = field(default_factory=dict)


class Provisioner:
    def __init__(self, store: ModelStore, device: torch.device, progress: Progress = NULL_PROGRESS,
                 data_root: Path | None = None, amp: bool = False,
                 clock: PhaseClock | None = None):
        self.store, self.device, self.progress = store, device, progress
        self.data_root, self.amp = data_root, amp
        self.clock = clock or PhaseClock()
        self._memo: dict[str, Provisioned] = {}
        self.trained = 0

    def spec(self, cell, data: RetrievalData) -> ModelSpec:
        weights = weights_path(cell.backbone, self.data_root)
        return ModelSpec(method=cell.method, backbone=cell.backbone, bits=cell.bits,
                         in_channels=data.image_shape[0], n_classes=data.n_classes,
                         weights=str(weights) if weights else None)

    def identity(self, cell, data: RetrievalData, defense: str, params: dict,
                 base_params: dict) -> ModelIdentity:
        """The cache key of ``cell``'s model defended by ``defense``, without training it."""
        instance = defenses.create(defense, **params)
        ref = plugin_ref(defenses, defense, instance)
        parent = None
        if type(instance).starts_from == "vanilla" and defense != "vanilla":
            parent = self.identity(cell, data, "vanilla", base_params, base_params)
        spec = self.spec(cell, data)
        key = config_hash({
            # the weights' content, not their path, determines the model
            "spec": {**spec.to_dict(), "weights": file_sha256(spec.weights) if spec.weights
                     else None}, "hash_params": HASH_METHODS[cell.method].params,
            "protocol_hash": data.protocol_hash, "seed": cell.seed, "defense": ref,
            "hashbench": __version__, "code": code_fingerprint(type(instance)),
            "parent": parent.key if parent else None,
            # mixed precision trains a different model; fp32 keys stay as they were
            **({"precision": "amp"} if self.amp else {}),
        })
        return ModelIdentity(key, instance, ref, spec, parent)

    def get(self, cell, data: RetrievalData, defense: str, params: dict,
            base_params: dict) -> Provisioned:
        """The model of ``cell`` defended by ``defense`` (trained or loaded), with its codes."""
        ident = self.identity(cell, data, defense, params, base_params)
        key, instance, ref, spec = ident.key, ident.instance, ident.ref, ident.spec
        if key in self._memo:
            return self._memo[key]
        loaded = self.store.load_model(key, self.device)
        if loaded is None:
            parent = self.get(cell, data, "vanilla", base_params, base_params) \
                if ident.parent else None
            with self.clock.phase("training"):
                model = self._train(cell, data, instance, spec, parent, key)
                sha = self.store.save_model(key, model, {"defense": ref, "dataset": data.name})
            self.trained += 1
        else:
            model, sha = loaded
        with self.clock.phase("codes"):
            result = Provisioned(model, key, sha, ref, self._codes(key, model, data))
        self._memo[key] = result
        return result

    def _train(self, cell, data, instance, spec, parent, key) -> HashModel:
        if parent is not None:
            model = copy.deepcopy(parent.model)
        else:
            model = HashModel(spec, seed=cell.seed).to(self.device)
        ctx = TrainContext(
            # always the protocol's budget: a group's eps list sweeps the attacks, and the model
            # (whose cache key has no eps) must not depend on which eps cell came first
            seed=cell.seed, scope=f"{data.name}/{cell.model_id}/{instance.name}",
            eps=float(data.eps),
            train_labels=data.train.labels, database_labels=data.database.labels,
            make_hash_loss=lambda: make_loss(cell.method, data.train.labels, cell.bits,
                                             generator(cell.seed, key, "loss")).to(self.device),
            attack=attacks.create, progress=self.progress, amp=self.amp,
        )
        trained = instance.fit(model, data.train, ctx)
        return trained.eval()

    def _codes(self, key: str, model: HashModel, data: RetrievalData) -> dict[str, torch.Tensor]:
        codes = self.store.load_codes(key)
        if codes is None:
            codes = {"train": encode_split(model, data.train),
                     "database": encode_split(model, data.database)}
            self.store.save_codes(key, codes)
        return {k: v.to(self.device) for k, v in codes.items()}

