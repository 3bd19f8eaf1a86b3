"""One cell of a suite's matrix (``CellSpec``): what its record says it measured, and the
convergence check's budget scaling."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hashbench.harness.suite_checks import IMAGE_TEXT
from hashbench.harness.tracks import TRACKS
from hashbench.metrics import Ties

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
