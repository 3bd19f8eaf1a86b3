"""The result record as typed values: one frozen dataclass per part (suite, dataset, model,
plugin, metrics, cost, provenance, sidecar), what the runner builds and the report and plots read.

``Record.from_dict`` reads a record of any schema version this hashbench knows (``MIGRATIONS``
brings each older version up to the current one; the committed records are kept as historic
fixtures that must keep loading), and ``to_dict`` gives back the JSON object, key for key: a
field whose value is ``ABSENT`` is a key the record does not have (older records lack keys that
newer ones carry), which is not the same as a key holding ``null``. A test checks every class
against the JSON Schema (``schemas/result.v1.json``): the same keys, the same required ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from hashbench.errors import ResultError

# what a record's ``cell.attack`` names besides a registered attack: the clean cell, and the
# per-query worst cases over attacks (all of the suite's, and those that need only rankings)
CLEAN = "clean"
WORST_CASE = "worst_case"
BLACKBOX_WORST_CASE = "blackbox_worst_case"
AGGREGATES = (WORST_CASE, BLACKBOX_WORST_CASE)
HANDED_IN = "handed-in"  # the defense column of a model measured by ``hashbench.benchmark``
# a handed-in model's parameter naming the published model (``<model id>/<defense>``) whose
# checkpoint it is: its attack cells take that model's draws, so it meets its published row's
DRAWS_AS = "draws_as"


class _Absent:
    """A record key that is not there (``None`` is a key holding JSON null)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


def optional(nested: type | None = None) -> Any:
    """A key older records may lack."""
    return field(default=ABSENT, metadata={"nested": nested} if nested else {})


def nested(cls: type) -> dict:
    """A part typed by ``cls`` (read with its ``from_dict``): ``field(metadata=nested(cls))``."""
    return {"nested": cls}


class Part:
    """Shared reading and writing of the record's parts (each a frozen dataclass)."""

    __dataclass_fields__: ClassVar[dict]

    @classmethod
    def from_dict(cls, data: dict, where: str = "record"):
        if not isinstance(data, dict):
            raise ResultError(f"{where}: expected an object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ResultError(f"{where}: unknown key(s) {', '.join(unknown)}")
        values = {}
        for name, f in fields.items():
            if name not in data:
                if f.default is not ABSENT:
                    raise ResultError(f"{where}: missing key '{name}'")
                continue
            value, sub = data[name], f.metadata.get("nested")
            values[name] = sub.from_dict(value, f"{where}.{name}") if sub and value is not None \
                else value
        return cls(**values)

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is ABSENT:
                continue
            out[f.name] = value.to_dict() if isinstance(value, Part) else value
        return out


@dataclass(frozen=True)
class SuiteRef(Part):
    name: str
    version: int
    file_sha256: str = optional()


@dataclass(frozen=True)
class DatasetRef(Part):
    name: str
    protocol: str
    protocol_hash: str
    hashes: dict
    n_query: int
    n_database: int
    n_train: int


@dataclass(frozen=True)
class PluginRef(Part):
    """An attack, defense or method as it was when it computed the record."""

    name: str
    version: int
    params: dict
    distribution: str
    dist_version: str
    third_party: bool
    external: bool = optional()  # adversarial queries scored from outside (evaluate-queries)


@dataclass(frozen=True)
class ModelRef(Part):
    method: str
    backbone: str
    bits: int
    hash_params: dict
    defense: PluginRef = field(metadata=nested(PluginRef))
    checkpoint_sha256: str | None
    cache_key: str | None
    parent_checkpoint_sha256: str = optional()
    method_plugin: PluginRef = optional(PluginRef)  # image-text cells


@dataclass(frozen=True)
class EnsembleReport(Part):
    stages: list
    damage_by: dict
    whitebox_map: float
    blackbox_gain: float
    masking_margin: float
    masking_suspected: bool
    adaptive_queries: int = optional()  # hash_aa design 2
    adaptive_above: float = optional()


@dataclass(frozen=True)
class Convergence(Part):
    """A worst case at seed 0 re-taken with ``attack`` run at ``factor`` x its budget added
    per query: its mAP then, and the drop from the worst case's own."""

    attack: str
    factor: int
    map: float
    drop: float


@dataclass(frozen=True)
class Metrics(Part):
    eps: float
    topk: int | None
    clean_map: float
    map: float = optional()
    map_drop: float = optional()
    clean_t_map: float = optional()
    clean_map_ci95: list = optional()
    map_ci95: list = optional()
    random_map: float = optional()
    t_map: float = optional()
    worst_case_of: list = optional()
    direction: str = optional()
    text_flips: int = optional()
    flips_mean: float = optional()
    flips_max: float = optional()
    linf_mean: float = optional()
    linf_max: float = optional()
    mse_mean: float = optional()
    ensemble: EnsembleReport = optional(EnsembleReport)
    ties: str = optional()  # "expected": tied distances scored by their expectation
    convergence: Convergence = optional(Convergence)


@dataclass(frozen=True)
class Phases(Part):
    """Seconds of the cell by phase (absent in records older than the phase clock)."""

    training: float = optional()
    codes: float = optional()
    attack: float = optional()
    metrics: float = optional()
    io: float = optional()
    fitting: float = optional()  # an attack's per-model state (absent in older records)


@dataclass(frozen=True)
class Cost(Part):
    wall_seconds: float
    attack_steps: int
    forward_images: int
    backward_images: int
    trained_models: int
    phases: Phases = optional(Phases)
    queries_mean: float = optional()  # ranking-only attacks: queries sent per image
    queries_max: int = optional()


@dataclass(frozen=True)
class CpuKernels(Part):
    aten: str = optional()
    ATEN_CPU_CAPABILITY: str | None = optional()
    ONEDNN_MAX_CPU_ISA: str | None = optional()
    MKL_CBWR: str | None = optional()
    threads: int = optional()


@dataclass(frozen=True)
class Provenance(Part):
    hashbench_version: str
    git_sha: str | None
    git_dirty: bool | None
    python: str
    torch: str
    cuda: str | None
    device: str
    seed: int
    command: str
    started_utc: str
    finished_utc: str
    precision: str = optional()  # absent in records older than --amp: fp32
    cpu: str = optional()
    cpu_kernels: CpuKernels = optional(CpuKernels)


@dataclass(frozen=True)
class SidecarRef(Part):
    path: str
    sha256: str
    arrays: list


@dataclass(frozen=True)
class Record(Part):
    """One cell's result. ``cell`` is the resolved cell as written (its dict is what the config
    hash covers, so it stays a plain mapping); everything else is typed."""

    schema_version: int
    suite: SuiteRef = field(metadata=nested(SuiteRef))
    cell: dict = field()
    config_hash: str = field()
    dataset: DatasetRef = field(metadata=nested(DatasetRef))
    model: ModelRef = field(metadata=nested(ModelRef))
    attack: PluginRef | None = field(metadata=nested(PluginRef))  # None: clean and worst-case cells
    metrics: Metrics = field(metadata=nested(Metrics))
    cost: Cost = field(metadata=nested(Cost))
    sidecar: SidecarRef | None = field(metadata=nested(SidecarRef))
    provenance: Provenance = field(metadata=nested(Provenance))
    status: str = field()
    error: str | None = field()

    @classmethod
    def from_dict(cls, data: dict, where: str = "record") -> "Record":
        """A record of any known schema version, brought up to the current one."""
        if not isinstance(data, dict):
            raise ResultError(f"{where}: expected a JSON object")
        version = data.get("schema_version")
        if version not in MIGRATIONS:
            raise ResultError(f"{where}: schema_version {version!r} is not one this hashbench "
                              f"reads ({', '.join(map(str, sorted(MIGRATIONS)))}); upgrade "
                              "hashbench to read newer records")
        return super().from_dict(MIGRATIONS[version](data), where)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def attack_name(self) -> str:
        return self.cell["attack"]

    @property
    def scale(self) -> int:
        """More than 1 for a convergence check's run (its attack at that multiple of its
        budget): evidence beside the worst case, never a column of its own."""
        return int(self.cell.get("scale", 1))

    @property
    def record_name(self) -> str:
        return self.attack_name if self.scale == 1 else f"{self.attack_name}-x{self.scale}"

    @property
    def seed(self) -> int:
        return int(self.cell.get("seed", 0))

    @property
    def precision(self) -> str:
        return self.provenance.precision or "fp32"


def _v1(data: dict) -> dict:
    """Version 1 is the current version: read as it is."""
    return data


# schema version -> the function that brings a record of it to the current version (each
# older version's step calls the next one's, so a migration is written once)
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1}

PARTS: dict[str, type[Part]] = {
    "record": Record, "suite": SuiteRef, "dataset": DatasetRef, "plugin": PluginRef,
    "model": ModelRef, "ensemble": EnsembleReport, "convergence": Convergence,
    "metrics": Metrics, "phases": Phases,
    "cost": Cost, "cpu_kernels": CpuKernels, "provenance": Provenance, "sidecar": SidecarRef,
}
