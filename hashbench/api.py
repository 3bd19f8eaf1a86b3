"""The plugin contract: what an attack, a defense or a hashing method is, and what the harness
gives it.

A plugin may import the modules of ``PLUGIN_API`` (their public names: this module, the
metrics and the kit, ``hashbench.kit``), nothing else of the core (a test checks every
first-party plugin and the example package). Version 1 grew compatibly (source and surrogate
models, train images, ensembles' members, reports, fitted-state caching, ranking-only attacks,
image methods as plugins, inner attacks, the kits, whose old paths ``hashbench.training``...
are the same modules): every version-1 plugin still works. ``API_VERSION`` changes when this
contract does; the registry refuses plugins built for another.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import torch

from hashbench import KIT_MODULES
from hashbench.errors import PluginError
from hashbench.kit.attack_kit import (  # noqa: F401  (re-exported: part of the contract)
    AttackReport,
    QueryBatch,
    RankingOracle,
    StateCache,
)
from hashbench.kit.citations import Citation  # noqa: F401 - part of the API
from hashbench.kit.params import parse_params
from hashbench.kit.seeding import generator
from hashbench.metrics import Ties
from hashbench.models.losses import HashLoss
from hashbench.progress import NULL_PROGRESS, Progress

API_VERSION = 1
# what a plugin may import: this module, the metrics and the kit's building blocks
# (hashbench/kit/; hashbench.<name>, API version 1's path, is the same module)
PLUGIN_API = ("hashbench.api", "hashbench.metrics", *(f"hashbench.kit.{m}" for m in KIT_MODULES))
SUPPORTED_API_VERSIONS = frozenset({1})


class Need(str, enum.Enum):
    """What a plugin may ask the harness for; it gets exactly what it declares."""

    QUERY_LABELS = "query_labels"
    TARGET_LABELS = "target_labels"
    DATABASE_CODES = "database_codes"
    DATABASE_LABELS = "database_labels"
    TRAIN_CODES = "train_codes"
    TRAIN_LABELS = "train_labels"
    # the undefended (vanilla) model of the same configuration, with its codes: transfer attacks
    SOURCE_MODEL = "source_model"
    # the train split's images (universal perturbations, generators fitted per attacked model)
    TRAIN_IMAGES = "train_images"
    # an undefended model of another backbone and hashing method, trained by the harness on the
    # same data (``ctx.surrogate_model(backbone, method)``): cross-architecture transfer
    SURROGATE_MODEL = "surrogate_model"


class AttackContext:
    """Harness-provided data and seeded generators for one attack cell.

    Reading a field the attack did not declare in ``needs`` raises, so a plugin cannot quietly
    depend on data the harness would not give it elsewhere. A data value may be given as a
    zero-argument callable: it is called on first read (the source model of a transfer attack is
    only loaded when an attack reads it). ``topk`` is the protocol's mAP@K (None: full ranking),
    for attacks that track the real retrieval objective, and ``ties`` how that objective scores
    a ranking's ties ("index" or "expected", the suite's). ``attack(name, **params)`` resolves
    another registered attack (an ensemble's member), ``sub(attack, tag)`` its context on this data.
    """

    def __init__(self, needs: frozenset[Need], seed: int, scope: str, owner: str,
                 topk: int | None = None, make_attack: Callable[..., "Attack"] | None = None,
                 cache: StateCache | None = None, ties: Ties = "index", **data: Any):
        self._needs, self._seed, self._scope, self._owner = needs, seed, scope, owner
        self._data = data
        self.topk, self.ties = topk, ties
        self._make_attack = make_attack
        self._cache = cache

    @classmethod
    def for_attack(cls, attack, seed: int, scope: str, topk: int | None = None,
                   role: str = "attack", make_attack: Callable[..., "Attack"] | None = None,
                   cache: StateCache | None = None, ties: Ties = "index",
                   **data: Any) -> "AttackContext":
        """The one way a context is made: for ``attack`` (an instance or its class), which gets
        exactly what its ``needs`` declare of ``data``; errors name it as ``role`` (attack,
        inner attack, transfer source...)."""
        klass: type[Attack] = attack if isinstance(attack, type) else type(attack)
        return cls(klass.needs, seed, scope, f"{role} {klass.name}", topk, make_attack, cache,
                   ties, **data)

    def rng(self, purpose: str) -> torch.Generator:
        """A CPU generator derived from (root seed, cell, purpose)."""
        return generator(self._seed, self._scope, purpose)

    @property
    def seed(self) -> int:
        return self._seed

    def _get(self, need: Need, lazy: bool = True) -> Any:
        if need not in self._needs:
            raise PluginError(
                f"{self._owner} reads {need.value} but does not declare Need.{need.name} in needs"
            )
        if need.value not in self._data:
            raise PluginError(f"{self._owner} needs {need.value}, which this harness does not "
                              "provide here")
        value = self._data[need.value]
        if lazy and callable(value) and not isinstance(value, torch.Tensor):
            value = self._data[need.value] = value()
        return value

    def attack(self, name: str, **params: Any) -> "Attack":
        """A registered attack by name (validated parameters), e.g. an ensemble's member, made
        by the factory the harness handed to this context (its registry's)."""
        if self._make_attack is None:
            raise PluginError(f"{self._owner} runs attack {name!r}, but this context was made "
                              "without an attack factory; pass make_attack= (hashbench.registry"
                              ".attacks.create) where the context is built")
        return self._make_attack(name, **params)

    def sub(self, attack: "Attack", tag: str) -> "AttackContext":
        """A context for ``attack`` (a member run by this one) over the same data; its needs must
        be among this context's, and its generators are scoped under ``tag``."""
        missing = type(attack).needs - self._needs
        if missing:
            raise PluginError(f"{self._owner} runs {attack.name}, which needs "
                              f"{', '.join(sorted(n.value for n in missing))}; declare "
                              "them in the ensemble's needs too")
        return AttackContext.for_attack(attack, self._seed, f"{self._scope}/{tag}", self.topk,
                                        f"{self._owner} >", self._make_attack, self._cache,
                                        self.ties, **self._data)

    def cached(self, attack: "Attack", tag: str, module: torch.nn.Module,
               fit: Callable[[torch.nn.Module], None]) -> torch.nn.Module:
        """``module`` (a prototype network, a generator, a universal perturbation as a buffer)
        after ``fit(module)``, fitted once per attacked model: the harness caches the state by
        the attacked model's key, the attack (name, version, parameters, source), the seed and
        ``tag``. Without a cache (selfcheck, scripts) it is fitted each time. ``fit`` draws
        only from ``ctx.rng``; the module comes back in eval mode."""
        if self._cache is None:
            fit(module)
        else:
            self._cache.fetch(attack, self._seed, tag, module, fit)
        return module.eval()

    # the declared data (a ``SourceModel``; code and label tensors), each read through _get
    source_model = property(lambda self: self._get(Need.SOURCE_MODEL))
    train_codes = property(lambda self: self._get(Need.TRAIN_CODES))
    train_labels = property(lambda self: self._get(Need.TRAIN_LABELS))
    database_codes = property(lambda self: self._get(Need.DATABASE_CODES))
    database_labels = property(lambda self: self._get(Need.DATABASE_LABELS))

    @property
    def train_images(self):
        """The train split: ``len()``, ``.images(idx)`` (in [0,1]) and ``.labels``."""
        return self._get(Need.TRAIN_IMAGES)

    def surrogate_model(self, backbone: str, method: str) -> "SourceModel":
        """An undefended model of ``backbone`` and ``method`` (same bits and data), trained
        and cached by the harness like any model, with its own codes."""
        return self._get(Need.SURROGATE_MODEL, lazy=False)(backbone, method)


@dataclass
class SourceModel:
    """The undefended model of a cell's configuration (its vanilla checkpoint), for transfer
    attacks: ``model`` (images -> relaxed codes) and ``data``, its own train and database codes
    and labels keyed by ``Need`` values. ``memo`` holds adversarial batches made on it, so that
    every defense of one configuration is attacked with the same transferred queries and they
    are computed once per run."""

    model: torch.nn.Module
    key: str
    data: dict[str, Any]
    memo: dict = field(default_factory=dict)

    def context(self, attack: "Attack", seed: int, topk: int | None = None,
                ties: Ties = "index", make_attack: Callable[..., "Attack"] | None = None
                ) -> AttackContext:
        """A context for ``attack`` run on the source model; its generators depend on the
        source model and seed only (not on the defense being attacked)."""
        return AttackContext.for_attack(attack, seed, f"transfer/{self.key}", topk,
                                        "transfer source", make_attack, ties=ties, **self.data)


class Plugin:
    """Metadata shared by attacks and defenses."""

    kind: ClassVar[str] = "plugin"
    name: ClassVar[str]
    version: ClassVar[int] = 1
    api_version: ClassVar[int] = API_VERSION
    needs: ClassVar[frozenset[Need]] = frozenset()
    Params: ClassVar[type]
    citation: ClassVar[Citation | None] = None

    def __init__(self, **params: Any):
        self.params = parse_params(type(self).Params, params, f"{self.kind} {self.name}")

    @classmethod
    def version_for(cls, params: Mapping[str, Any]) -> int:
        """The version a record computed with ``params`` names: ``version``, unless the plugin
        keeps older designs selectable by a parameter (``hash_aa``'s ``design``), so that the
        records of an older design stay current."""
        return int(cls.version)

    @property
    def record_version(self) -> int:
        return type(self).version_for(dataclasses.asdict(self.params))

    def with_overrides(self, **params: Any):
        """A copy with some parameters replaced (validated again)."""
        merged = {**dataclasses.asdict(self.params), **params}
        return type(self)(**merged)


class Attack(Plugin):
    """An attack perturbs query images within an l-inf ball of radius ``params.eps``.

    Every ``Params`` has ``eps`` in [0,1] pixel units; the harness sets it from the protocol and
    checks each adversarial batch (finite, in [0,1], within eps + 1e-6) whatever the plugin does.

    In an image-text cell an image attack gets ``model.image`` (images -> relaxed codes) and a
    context whose train and database codes are the *text* side's: the codes its query retrieves.
    """

    kind = "attack"
    targeted: ClassVar[bool] = False
    modality: ClassVar[str] = "image"  # which query it perturbs: "image" or "text"
    # "white-box" (it gets the model) or "ranking" (perturb gets a RankingOracle in its place,
    # prepare None: only the ids the system returns; ``params.queries``: the oracle's budget)
    access: ClassVar[str] = "white-box"
    # needs nothing of the attacked model beyond a deployed system's ranked lists (ranking
    # access, or transfer): the suite's black-box worst case may hold it
    blackbox: ClassVar[bool] = False

    def prepare(self, model: torch.nn.Module | None, ctx: AttackContext) -> Any:
        """Per-model state built once (reference codes...). Default: nothing."""
        return None

    def perturb(self, model: Any, x: torch.Tensor, batch: QueryBatch, state: Any,
                ctx: AttackContext) -> torch.Tensor:
        raise NotImplementedError

    def report(self, state: Any) -> AttackReport | None:
        """Called once after every batch of a cell: extra record content. Default: none."""
        return None


class TextAttack(Attack):
    """A text attack flips at most ``params.flips`` entries of a {0,1} bag-of-words query.

    Tags are binary, so an l-inf ball around a tag vector either leaves it (fractional tags are
    not text) or, rounded, is a flip budget anyway; the budget is therefore an l0 count of flipped
    tags, set by the harness from the protocol (``RetrievalData.text_flips``). Every adversarial
    batch is checked: the same shape, entries in {0,1}, at most ``flips`` changes per query.
    ``perturb`` gets the model's text network (tag vectors -> relaxed codes); its context holds
    the image side's codes.
    """

    modality = "text"


class CrossModalObjective:
    """An image-text method's training loss, built once per training run over the train split.

    ``parameters()`` lists the method's own auxiliary modules (SSAH's label network and
    discriminators, say); they are trained beside the model and not kept with it.
    """

    def parameters(self) -> list[torch.nn.Parameter]:
        return []

    def __call__(self, model: torch.nn.Module, batch: Any, step: int) -> torch.Tensor:
        """The loss of a minibatch of (image, text, label) triples (``batch.x``, ``batch.text``,
        ``batch.y``, ``batch.idx``) at training step ``step``."""
        raise NotImplementedError


class HashingMethod(Plugin):
    """A hashing method: what trains a model's codes. Registered in the entry-point group
    ``hashbench.methods``; ``modality`` says which groups of a suite may name it in ``methods``:
    ``"image"`` (an :class:`ImageMethod`) or ``"image-text"`` (a :class:`CrossModalMethod`)."""

    kind = "method"
    modality: ClassVar[str] = "image"


class ImageMethod(HashingMethod):
    """An image hashing method (DPSH, DPH, HashNet, CSQ...): ``loss`` builds the
    :class:`HashLoss` (a memory bank of the latest training outputs) that the defenses train
    an image model with, through ``TrainContext.make_hash_loss``.

    Its parameters are pinned per method (methods.md P11): a suite trains with the defaults, and
    ``hash_params()`` (the parameters under the names records use) goes into every record and
    into the model's cache key.
    """

    modality = "image"

    def loss(self, train_labels: torch.Tensor, bits: int, generator: torch.Generator
             ) -> HashLoss:
        raise NotImplementedError

    def hash_params(self) -> dict:
        return dataclasses.asdict(self.params)


class CrossModalMethod(HashingMethod):
    """An image-text hashing method (DCMH, SSAH, RMSH...): the loss that trains a model whose
    image network (``model.image``) and text network (``model.text``) share one Hamming space.

    A suite names it in ``methods`` of a ``modality = "image-text"`` group, and the cross-modal
    defenses train with it.
    """

    modality = "image-text"

    def objective(self, model: torch.nn.Module, train, ctx: "TrainContext") -> CrossModalObjective:
        raise NotImplementedError


@dataclass
class TrainContext:
    """What the harness gives a defense's ``fit``.

    ``make_hash_loss()`` builds the model's own hashing loss over the train split;
    ``attack(name, **overrides)`` resolves an inner attack from the registry by name (so a
    third-party defense can name a third-party attack); ``fit(...)`` is the core training loop
    (seeding, schedule, progress) that every defense uses.
    """

    seed: int
    scope: str
    eps: float
    train_labels: torch.Tensor
    database_labels: torch.Tensor
    make_hash_loss: Callable[[], Any]
    attack: Callable[..., Attack]
    progress: Progress = NULL_PROGRESS
    amp: bool = False  # mixed-precision training (``hashbench run --amp``); fit() applies it
    # image-text models only: the method's objective for a model, and the text query budget
    make_objective: Callable[[torch.nn.Module], CrossModalObjective] | None = None
    text_flips: int | None = None

    def rng(self, purpose: str) -> torch.Generator:
        return generator(self.seed, self.scope, purpose)

    def inner_attack(self, name: str, overrides: dict | None = None, **defaults: Any) -> Attack:
        """The registered attack ``name`` as a defense's inner attack. ``defaults`` are the
        defense's own settings (``eps=ctx.eps, steps=7, step=...``), each passed only where the
        attack has a parameter of that name, so any registered attack can be the inner one;
        ``overrides`` (a defense's ``inner_params`` mapping, from the suite) go on top, checked
        strictly: an unknown name is a one-line error."""
        fields = {f.name for f in dataclasses.fields(type(self.attack(name)).Params)}
        return self.attack(name, **{**{k: v for k, v in defaults.items() if k in fields},
                                    **(overrides or {})})

    def attack_context(self, attack: Attack, tag: str, **data: Any) -> AttackContext:
        """Context for an inner attack, holding the given data (keys: ``Need`` values)."""
        return AttackContext.for_attack(attack, self.seed, f"{self.scope}/{tag}",
                                        role="inner attack", make_attack=self.attack, **data)

    def fit(self, model, split, step_fn, cfg, params=None):
        from hashbench.kit.training import fit

        return fit(model, split, step_fn, cfg, self.seed, self.scope, params, self.progress,
                   amp=self.amp)


class Defense(Plugin):
    """A defense returns a trained hashing model. ``starts_from`` says what it fine-tunes: the
    name of the defense whose cached checkpoint of the same model config it starts from
    (``"vanilla"``, as the papers do) or ``"scratch"`` (a freshly initialised model).

    ``modality`` is ``"image"`` (image hashing models) or ``"image-text"`` (cross-modal models,
    ``model.image`` and ``model.text``; ``ctx.make_objective(model)`` gives the method's loss)."""

    kind = "defense"
    starts_from: ClassVar[str] = "vanilla"
    modality: ClassVar[str] = "image"
    # False for a defense whose training never reads ctx.eps (vanilla): its model is then the
    # same at every group budget and is trained once
    uses_eps: ClassVar[bool] = True

    def fit(self, model: torch.nn.Module, split, ctx: TrainContext) -> torch.nn.Module:
        raise NotImplementedError
