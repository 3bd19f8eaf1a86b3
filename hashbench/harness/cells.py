"""One cell of a suite's matrix (``CellSpec``: what its record says it measured) and how cells
are addressed and chosen: ``--only`` / ``--exclude`` filters, the record path of a cell, the
protocol values a cell resolves (its mAP@K, its protocol hash), and the convergence check's
budget scaling."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from hashbench.errors import HashbenchError
from hashbench.harness.suite_checks import IMAGE_TEXT
from hashbench.harness.tracks import TRACKS
from hashbench.metrics import Ties
from hashbench.records.paths import check_component, inside

# a suite's convergence check runs its attack at this multiple of its steps and restarts
CONVERGENCE_FACTOR = 2


def scaled_params(attack: str, params: dict, factor: int) -> dict:
    """``params`` of ``attack`` (a suite's section) with its iteration budget times ``factor``:
    ``steps`` and ``restarts`` where its parameters have them (their defaults where the section
    does not set them)."""
    from hashbench.registry import attacks

    defaults = {f.name: f.default for f in dataclasses.fields(attacks.get(attack).Params)}
    out = dict(params)
    for knob in ("steps", "restarts"):
        if knob in defaults:
            out[knob] = int(params.get(knob, defaults[knob])) * factor
    return out


# query modality -> the direction of its cells: image queries retrieve texts and vice versa
DIRECTIONS = {"image": "i2t", "text": "t2i"}
QUERY_MODALITY = {v: k for k, v in DIRECTIONS.items()}


@dataclass(frozen=True)
class CellSpec:
    """One cell of the matrix; its dict form is written into the result record."""

    suite: str
    suite_version: int
    dataset: str
    method: str
    backbone: str
    bits: int
    defense: str
    defense_params: dict
    attack: str
    attack_params: dict
    eps: float | None
    queries: int | None
    topk: int | str | None
    seed: int
    vanilla_params: dict = field(default_factory=dict)
    worst_case_of: tuple[str, ...] = field(default=())
    # image-text cells: "i2t" (image queries, text database) or "t2i"; None for image hashing
    direction: str | None = None
    method_params: dict = field(default_factory=dict)
    # a group's ``budget``: the eps its adversarial defenses train at (None: the protocol's)
    train_eps: float | None = None
    # an image-text group's ``text_budget``: the tags its text attacks may flip and its text
    # adversarial training flips (None: the dataset protocol's)
    text_flips: int | None = None
    # records of a suite that declares ``seeds`` (or of a --seed other than the file's) live in
    # a seed<N>/ folder, so no seed's records overwrite another's; where, not what: not hashed
    seed_in_path: bool = False
    # the suite's parameters of the defenses this cell's defense fine-tunes, its parent's
    # parent..., other than the baseline (whose are vanilla_params): a parent is trained with
    # its own section of the suite, as the suite's own cells of it are
    parent_params: dict = field(default_factory=dict)
    # how ties in the ranking are scored (metrics.Ties), and what a model's seeded draws are
    # scoped by: "key" (its cache key, which version bumps move) or "cell" (its identity); the
    # defaults are the suites' up to standard v2, whose cells keep their dicts and hashes
    ties: Ties = "index"
    generators: str = "key"
    # the sha256 of the suite file the cell came from, in its record (which file measured it);
    # provenance, not configuration: not hashed (a comment edited in a suite recomputes nothing)
    suite_sha256: str | None = None
    # a suite's convergence check (``Suite.convergence``): an attack cell run at ``scale`` x its
    # steps and restarts (its record ``<attack>-x<scale>.json``), and the worst case of the same
    # row and seed that takes those records (``converge_with``) to say how far they lower it
    scale: int = 1
    converge_with: tuple[str, ...] = field(default=())

    @property
    def model_id(self) -> str:
        return f"{self.method}-{self.backbone}-{self.bits}b"

    @property
    def record_name(self) -> str:
        """The record's file stem: the attack (or clean, worst_case...), ``-x<scale>`` for a
        convergence check's run."""
        return self.attack if self.scale == 1 else f"{self.attack}-x{self.scale}"

    @property
    def query_modality(self) -> str:
        return QUERY_MODALITY[self.direction] if self.direction else "image"

    @property
    def track(self):
        """The image or image-text track's strategy object (``hashbench.harness.tracks``)."""
        return TRACKS[IMAGE_TEXT if self.direction else "image"]

    def flips(self, protocol_flips: int | None) -> int | None:
        """The tags this cell's text attacks may flip and its text adversarial training
        flips: its group's ``text_budget``, else the protocol's."""
        return protocol_flips if self.text_flips is None else self.text_flips

    @property
    def baseline(self) -> str:
        return self.track.baseline

    def params_of(self, defense: str) -> dict:
        """The suite's parameters of ``defense``: this cell's own, its baseline's, or those of
        an ancestor it fine-tunes."""
        if defense == self.defense:
            return self.defense_params
        if defense == self.baseline:
            return self.vanilla_params
        return self.parent_params.get(defense, {})

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__
             if k not in ("seed_in_path", "suite_sha256")}
        d["worst_case_of"] = list(self.worst_case_of)
        # image-hashing cells keep the dict (and so the config hash) they had before the
        # image-text track existed
        if self.direction is None:
            del d["direction"], d["method_params"]
        if self.train_eps is None:  # cells without a group budget keep their config hash
            del d["train_eps"]
        if self.text_flips is None:  # likewise without a group text budget
            del d["text_flips"]
        if not self.parent_params:  # cells whose parent is the baseline keep theirs too
            del d["parent_params"]
        if self.ties == "index":
            del d["ties"]
        if self.generators == "key":
            del d["generators"]
        if self.scale == 1:  # suites without a convergence check keep their cells' hashes
            del d["scale"]
        if self.converge_with:
            d["converge_with"] = list(self.converge_with)
        else:
            del d["converge_with"]
        return d

    @property
    def draw_scope(self) -> str:
        """The name of this cell's model in seeded draws when ``generators`` is "cell"."""
        return f"{self.suite}-v{self.suite_version}/{self.dataset}/{self.model_id}"


FILTER_KEYS = ("dataset", "method", "backbone", "bits", "defense", "attack")


def parse_filters(items: tuple[str, ...] | list[str]) -> dict[str, set[str]]:
    """``key=v1,v2`` pairs (keys: dataset, method, backbone, bits, defense, attack)."""
    out: dict[str, set[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or key not in FILTER_KEYS or not values:
            raise HashbenchError(
                f"--only/--exclude filter {item!r} must be KEY=VALUE[,VALUE] with KEY in "
                f"{', '.join(FILTER_KEYS)}")
        out.setdefault(key, set()).update(values.split(","))
    return out


def _matches(cell: CellSpec, filters: dict[str, set[str]]) -> bool:
    return any(str(getattr(cell, k)) in v for k, v in filters.items())


def select(cells: list[CellSpec], only: dict, exclude: dict) -> list[CellSpec]:
    """The cells every ``only`` filter keeps and no ``exclude`` filter drops; a filter value no
    cell has is an error with the close matches (a typo would otherwise select nothing, or,
    in --exclude, silently drop nothing)."""
    from hashbench.errors import close_matches

    for flag, filters in (("--only", only), ("--exclude", exclude)):
        for key, values in filters.items():
            present = {str(getattr(c, key)) for c in cells}
            missing = sorted(values - present)
            if missing:
                raise HashbenchError(
                    f"{flag} {key}={missing[0]}: no cell of this suite has {key} {missing[0]!r}"
                    f"{close_matches(missing[0], present)}")
    keep = []
    for c in cells:
        if only and not all(str(getattr(c, k)) in v for k, v in only.items()):
            continue
        if exclude and _matches(c, exclude):
            continue
        keep.append(c)
    return keep


def suite_folder(name: str, version: int) -> str:
    """A suite version's results (and zoo) folder: ``<name>-v<version>``, version 1 included, so
    that the folder says which version it holds and versions never share one."""
    return f"{name}-v{version}"


def at_protocol_eps(cell: CellSpec, protocol_eps: float) -> bool:
    """Whether ``cell`` is attacked at its dataset protocol's eps (no group eps, or one equal to
    it): such a cell's record has no eps folder, and it is the board's headline cell."""
    return cell.eps is None or abs(cell.eps - protocol_eps) <= 1e-12


def attack_eps(cell: CellSpec, protocol_eps: float) -> float:
    """The l-inf budget ``cell``'s attack gets and is held to: its group's eps, else the
    protocol's."""
    return float(protocol_eps if cell.eps is None else cell.eps)


def training_eps(cell: CellSpec, protocol_eps: float) -> float:
    """The budget adversarial defenses of ``cell``'s model train at: its group's ``budget``,
    else the protocol's eps."""
    return float(protocol_eps if cell.train_eps is None else cell.train_eps)


def record_path(results_dir: Path, cell: CellSpec, protocol_eps: float) -> Path:
    """Path = key: results/<suite>-v<version>/<dataset>/<model>/<defense>[/seed<N>][/<i2t|t2i>][/eps<e>]/
    <attack>.json (the seed folder for multi-seed suites and --seed runs, the direction only for
    image-text cells). Every name in it is checked (a cell rebuilt from a record is free-form)
    and the path must stay inside ``results_dir`` (a symlinked suite folder that leads elsewhere
    is refused)."""
    where = f"cell {cell.dataset}/{cell.model_id}/{cell.defense}/{cell.attack}"[:160]
    for what in ("suite", "dataset", "method", "backbone", "defense", "attack", "record_name"):
        check_component(getattr(cell, what), what, where)
    if cell.direction not in (None, "i2t", "t2i"):
        check_component(None, "direction", where)
    folder = results_dir / suite_folder(cell.suite, cell.suite_version) / cell.dataset / \
        cell.model_id / cell.defense
    if cell.seed_in_path:
        folder = folder / f"seed{cell.seed}"
    if cell.direction:
        folder = folder / cell.direction
    if not at_protocol_eps(cell, protocol_eps):
        folder = folder / f"eps{cell.eps:.6g}"
    return inside(results_dir, folder / f"{cell.record_name}.json", where)


def protocol_hash(cell: CellSpec, data) -> str:
    """Image cells depend on the image protocol; image-text cells on the tag vectors too."""
    return cell.track.protocol_hash(data)


def resolved_topk(cell: CellSpec, data) -> int | None:
    if cell.topk is None:
        return data.topk
    if cell.topk == "all":
        return None
    if isinstance(cell.topk, str):
        raise HashbenchError(f"topk {cell.topk!r} must be an integer or 'all'")
    return int(cell.topk)
