"""Plugin registries filled from Python entry points, first-party plugins included.

``attacks``, ``defenses`` and ``methods`` (image-text hashing methods) read the groups
``hashbench.attacks``, ``hashbench.defenses`` and ``hashbench.methods`` lazily, on first use.
Listing does not import plugin modules. A name declared by two distributions is an error naming
both; a plugin that fails to import is reported with its cause and leaves the others working; an
unknown name lists close matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

import torch

from hashbench import api
from hashbench.errors import ConfigError, PluginError, close_matches
from hashbench.kit.params import params_to_dict
from hashbench.models.losses import HashLoss

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FIRST_PARTY = "hashbench"
T = TypeVar("T")


@dataclass
class PluginEntry:
    """One declared plugin: where it comes from, and its load error if it has one."""

    name: str
    value: str
    distribution: str
    dist_version: str
    entry_point: EntryPoint | None
    error: str | None = None

    @property
    def third_party(self) -> bool:
        return self.distribution != FIRST_PARTY


def _dist_of(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"], dist.version


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str, base_path: str):
        self.kind, self.group, self._base_path = kind, group, base_path
        self._entries: dict[str, PluginEntry] | None = None
        self._loaded: dict[str, type[T]] = {}

    def _base(self) -> type:
        return getattr(api, self._base_path)

    def _discover(self) -> dict[str, PluginEntry]:
        if self._entries is not None:
            return self._entries
        found: dict[str, PluginEntry] = {}
        seen: set[tuple[str, str, str]] = set()
        for ep in entry_points(group=self.group):
            dist, version = _dist_of(ep)
            if (ep.name, ep.value, dist) in seen:  # the same dist seen twice on sys.path
                continue
            seen.add((ep.name, ep.value, dist))
            entry = PluginEntry(ep.name, ep.value, dist, version, ep)
            if not NAME_RE.match(ep.name):
                entry.error = f"name '{ep.name}' must match {NAME_RE.pattern}"
            if ep.name in found:
                first, second = sorted([found[ep.name].distribution, dist])
                entry.error = (
                    f"{self.kind} '{ep.name}' is declared by both {first} and {second}; "
                    "uninstall one or rename its entry point"
                )
                entry.distribution = f"{first}, {second}"
            found[ep.name] = entry
        self._entries = found
        return found

    def entries(self) -> list[PluginEntry]:
        return [self._discover()[k] for k in sorted(self._discover())]

    def names(self) -> list[str]:
        return sorted(self._discover())

    def entry(self, name: str) -> PluginEntry:
        entries = self._discover()
        if name not in entries:
            raise PluginError(f"unknown {self.kind} '{name}'{close_matches(name, entries)}")
        return entries[name]

    def get(self, name: str) -> type[T]:
        """The plugin class, imported and checked against the contract."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self.entry(name)
        if entry.error:
            raise PluginError(entry.error)
        if entry.entry_point is None:
            raise PluginError(f"{self.kind} '{name}' has no entry point to load")
        try:
            cls = entry.entry_point.load()
        except Exception as err:  # noqa: BLE001 - any import failure is the plugin's
            entry.error = f"{type(err).__name__}: {err}"
            raise PluginError(
                f"{self.kind} '{name}' from {entry.distribution} failed to load "
                f"({entry.value}): {entry.error}"
            ) from err
        self._check(entry, cls)
        self._loaded[name] = cls
        return cls

    def _check(self, entry: PluginEntry, cls) -> None:
        API_VERSION, SUPPORTED_API_VERSIONS = api.API_VERSION, api.SUPPORTED_API_VERSIONS

        where = f"{self.kind} '{entry.name}' from {entry.distribution}"
        problem = None
        if not isinstance(cls, type) or not issubclass(cls, self._base()):
            problem = f"{where} is not a subclass of hashbench.api.{self._base_path}"
        elif getattr(cls, "name", None) != entry.name:
            problem = f"{where}: class attribute name={getattr(cls, 'name', None)!r} differs " \
                      f"from its entry-point name"
        elif getattr(cls, "api_version", None) not in SUPPORTED_API_VERSIONS:
            problem = (
                f"{where} declares api_version={getattr(cls, 'api_version', None)!r}, but this "
                f"hashbench ({_version()}) supports api_version {sorted(SUPPORTED_API_VERSIONS)}"
                f"; use a hashbench release with plugin API {getattr(cls, 'api_version', None)} "
                f"or update the "
                f"plugin to API {API_VERSION}"
            )
        if problem:
            entry.error = problem
            raise PluginError(problem)

    def check_params(self, name: str, params: dict) -> None:
        """Build plugin ``name`` with ``params`` once, so a bad parameter is refused when the
        suite is read, not when a cell first runs (an image attack's eps is the harness's)."""
        budget = {"eps": 0.0} if self.kind == "attack" and \
            getattr(self.get(name), "modality", None) == "image" else {}
        self.create(name, **{**params, **budget})

    def create(self, name: str, **params) -> T:
        return self.get(name)(**params)

    def _clear(self) -> None:
        """Forget discovery (tests that install plugins at run time)."""
        self._entries, self._loaded = None, {}


def _version() -> str:
    from hashbench import __version__

    return __version__


attacks: Registry[api.Attack] = Registry("attack", "hashbench.attacks", "Attack")
defenses: Registry[api.Defense] = Registry("defense", "hashbench.defenses", "Defense")
methods: Registry[api.HashingMethod] = Registry("method", "hashbench.methods", "HashingMethod")


def methods_of(modality: str) -> list[str]:
    """The registered hashing methods of one modality ("image" or "image-text")."""
    return [n for n in methods.names() if methods.get(n).modality == modality]


def image_methods() -> list[str]:
    return methods_of("image")


def image_method(name: str):
    """The registered image hashing method ``name`` (its parameters pinned: docs/methods.md P11)."""
    image = image_methods()
    if name not in image:
        raise ConfigError(f"unknown hashing method '{name}'{close_matches(name, image)}; image "
                          f"hashing methods: {', '.join(image)}")
    return methods.create(name)


def make_loss(method: str, train_labels: torch.Tensor, bits: int,
              generator: torch.Generator) -> HashLoss:
    """The loss of image hashing method ``method``, built by its plugin."""
    return image_method(method).loss(train_labels, bits, generator)


def plugin_ref(registry: Registry, name: str, instance) -> dict:
    """What a record says of the plugin ``name`` that computed it: version, parameters, and
    the distribution that provides it."""
    entry = registry.entry(name)
    return {"name": name, "version": instance.record_version,
            "params": params_to_dict(instance.params), "distribution": entry.distribution,
            "dist_version": entry.dist_version, "third_party": entry.third_party}

