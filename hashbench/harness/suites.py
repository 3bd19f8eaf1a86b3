"""Suites: versioned TOML matrices of dataset x model x defense x attack (x eps).

A suite is identified by name and version; a published one is never changed in place (add
``standard`` version 2 instead). Package suites live in ``hashbench/suites/*.toml``; any other
path works the same. Files are validated by ``schemas/suite.v1.json``: unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from hashbench.errors import ConfigError
from hashbench.harness.cells import (  # noqa: F401 - re-exported: where cells were
    CONVERGENCE_FACTOR,
    DIRECTIONS,
    QUERY_MODALITY,
    CellSpec,
    scaled_params,
)
from hashbench.harness.suite_checks import (  # noqa: F401 - MAX_*: the suite's bounds, read by the CLI
    DEFAULT_CELL_TIMEOUT,
    IMAGE_TEXT,
    MAX_CELL_TIMEOUT,
    MAX_SEED,
    check_suite_file,
)
from hashbench.harness.tracks import TRACKS
from hashbench.metrics import Ties
from hashbench.records.types import (  # noqa: F401 - the cell names, re-exported for the harness
    AGGREGATES,
    BLACKBOX_WORST_CASE,
    CLEAN,
    WORST_CASE,
)


@dataclass(frozen=True)
class Group:
    """One ``[[groups]]`` table of a suite file, typed, with the schema's defaults filled in."""

    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    backbones: tuple[str, ...]
    bits: tuple[int, ...]
    defenses: tuple[str, ...]
    attacks: tuple[str, ...]
    modality: str = "image"
    text_attacks: tuple[str, ...] = ()  # image-text groups: the T->I attacks
    eps: tuple[float, ...] | None = None  # attack budgets (None: the group's budget)
    budget: float | None = None  # the budget defenses train at and attacks use (None: protocol's)
    # image-text groups: the tags text attacks may flip and text adversarial training flips
    # (None: the dataset protocol's)
    text_budget: int | None = None
    queries: int | None = None
    topk: int | str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "Group":
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        return cls(**fields)

    @property
    def image_text(self) -> bool:
        return self.modality == IMAGE_TEXT

    @property
    def eps_values(self) -> tuple[float | None, ...]:
        """The attack budgets the group's cells are expanded over (None: the protocol's)."""
        if self.eps is not None:
            return self.eps
        return (None,) if self.budget is None else (self.budget,)


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    description: str
    seed: int
    worst_case: tuple[str, ...]
    groups: tuple[Group, ...]
    defense_params: dict
    attack_params: dict
    source: str
    method_params: dict = field(default_factory=dict)
    # the root seeds every model is trained and attacked with (None: ``seed`` alone)
    seeds: tuple[int, ...] | None = None
    # seconds one cell (its model's training included) may run before it is failed, so that a
    # plugin that never returns cannot hang the run; --cell-timeout overrides it, 0 = no limit
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    file_sha256: str | None = None  # of the suite file's bytes, carried into every record
    blackbox_worst_case: tuple[str, ...] = ()  # the members of BLACKBOX_WORST_CASE cells
    ties: Ties = "index"  # CellSpec.ties
    generators: str = "key"  # CellSpec.generators
    # torch threads per cell (None: the process's own, as the suites up to standard v2 were
    # computed); 1 gives the same numbers on any core count (harness.pool_executor)
    threads: int | None = None
    # an attack of the worst case also run at CONVERGENCE_FACTOR x its steps and restarts, at
    # each row's first seed: how far more budget still lowers the worst case (the board's
    # "drop at 2x" column); None: no such check (the suites up to standard v2)
    convergence: str | None = None
    convergence_seed: int = 0  # the suite file's first root seed: the row's seed it checks
    # "first": the black-box worst case's attacks run at convergence_seed only; like the 2x
    # check, a column that tests the white-box headline (no gradient masking) rather than a
    # ranked value, so one seed buys the evidence at a third of the cost; "all": every seed
    blackbox_seeds: str = "all"

    @property
    def run_seeds(self) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else (self.seed,)

    def with_seed(self, seed: int) -> "Suite":
        """The suite run with one root seed only (``hashbench run --seed``); a seed other than
        the file's own gets seed folders, so it never overwrites the file seed's records."""
        if self.seeds is None and seed == self.seed:
            return self
        return dataclasses.replace(self, seeds=(seed,))

    def training_recipe(self) -> dict:
        """The training parameters that every defense of the suite fine-tuning another (not the
        ones trained from scratch) sets to the same value: epochs, optimiser, learning rate...
        An added defense trains with them, as the suite's own do."""
        from hashbench.registry import defenses

        sections = [self.defense_params.get(d, {}) for g in self.groups for d in g.defenses
                    if defenses.get(d).starts_from != "scratch"]
        if not sections:
            return {}
        shared = dict(sections[0])
        for sec in sections[1:]:
            shared = {k: v for k, v in shared.items() if k in sec and sec[k] == v}
        return shared

    def with_defenses(self, names: list[str] | tuple[str, ...],
                      params: dict[str, dict] | None = None) -> "Suite":
        """The same suite (name, version, attacks, budgets) with more defenses in every group:
        how a new defense is evaluated on a published suite without editing it. Each added
        defense trains with the suite's recipe (``training_recipe``) where its parameters have
        those names, then ``params[name]`` on top. An unknown name raises with close matches."""
        from hashbench.registry import defenses

        recipe, params = self.training_recipe(), params or {}
        present = {d for g in self.groups for d in g.defenses}
        added = {}
        for name in names:
            if name in present:  # the suite's own: its parameters are the suite's
                continue
            fields = {f.name for f in dataclasses.fields(defenses.get(name).Params)}
            added[name] = {**{k: v for k, v in recipe.items() if k in fields},
                           **params.get(name, {})}
            defenses.check_params(name, added[name])  # before anything trains
        # each added defense goes to the groups of its modality, and must find one
        modality = {name: defenses.get(name).modality for name in names}
        kinds = {g.modality for g in self.groups}
        for name in names:
            if modality[name] not in kinds:
                raise ConfigError(
                    f"--add-defense {name}: it trains {modality[name]} hashing models, and "
                    f"suite {self.name} has no {modality[name]} group; add a defense of the "
                    f"suite's modality ({', '.join(sorted(kinds))})")
        groups = tuple(dataclasses.replace(g, defenses=tuple(dict.fromkeys(
            [*g.defenses, *(n for n in names if modality[n] == g.modality)])))
            for g in self.groups)
        return dataclasses.replace(self, groups=groups,
                                   defense_params={**self.defense_params, **added})

    def with_attacks(self, names: list[str] | tuple[str, ...],
                     params: dict[str, dict] | None = None) -> "Suite":
        """The same suite with more attacks: an image attack in every group's ``attacks``, a text
        attack in every image-text group's ``text_attacks``. An added attack gets its own column
        and stays out of the worst case, so no published record changes."""
        from hashbench.registry import attacks

        params = params or {}
        present = {a for g in self.groups for a in [*g.attacks, *g.text_attacks]}
        names = [n for n in names if n not in present]
        for name in names:  # before anything trains
            attacks.check_params(name, params.get(name, {}))
            if attacks.get(name).modality == "text" and not any(
                    g.image_text for g in self.groups):
                raise ConfigError(f"--add-attack {name}: it perturbs text queries, and suite "
                                  f"{self.name} has no image-text group; add an image attack")
        groups = []
        for g in self.groups:
            for name in names:
                key = "text_attacks" if attacks.get(name).modality == "text" else "attacks"
                if key == "attacks" or g.image_text:
                    added: dict[str, Any] = {key: tuple(dict.fromkeys([*getattr(g, key), name]))}
                    g = dataclasses.replace(g, **added)
            groups.append(g)
        return dataclasses.replace(self, groups=tuple(groups), attack_params={
            **self.attack_params, **{n: params.get(n, {}) for n in names}})

    def _ancestors(self, defense: str, baseline: str) -> dict:
        """{name: suite parameters} of the defenses ``defense`` fine-tunes, up to the baseline."""
        from hashbench.registry import defenses

        out, start = {}, defenses.get(defense).starts_from
        while start not in ("scratch", baseline, defense) and start not in out:
            out[start] = self.defense_params.get(start, {})
            start = defenses.get(start).starts_from
        return out

    def _convergence_cells(self, here: dict, attacks: tuple[str, ...]) -> list[CellSpec]:
        """The convergence check's cell of a row at the suite file's first seed: the suite's
        convergence attack at CONVERGENCE_FACTOR x its steps and restarts (none at other seeds,
        or when the row does not run that attack into its worst case)."""
        name = self.convergence
        if name is None or name not in attacks or name not in self.worst_case or \
                here["seed"] != self.convergence_seed:
            return []
        return [CellSpec(**here, attack=name, scale=CONVERGENCE_FACTOR,
                         attack_params=scaled_params(name, self.attack_params.get(name, {}),
                                                     CONVERGENCE_FACTOR))]

    def cells(self) -> list[CellSpec]:
        """Expand every group: clean and attack cells, then a worst-case cell per model. An
        image-text group does so once per direction: image attacks in i2t, text attacks in
        t2i, each direction with its own clean and worst-case cells."""
        out: list[CellSpec] = []
        for g in self.groups:
            budget, image_text = g.budget, g.image_text
            directions: dict[str | None, tuple[str, ...]] = \
                {"i2t": g.attacks, "t2i": g.text_attacks} if image_text else {None: g.attacks}
            baseline = TRACKS[g.modality].baseline
            for seed, ds, method, bb, bits, dfn, eps in itertools.product(
                self.run_seeds, g.datasets, g.methods, g.backbones, g.bits, g.defenses,
                g.eps_values
            ):
                base = dict(suite=self.name, suite_version=self.version, dataset=ds, method=method,
                            backbone=bb, bits=bits, defense=dfn,
                            defense_params=self.defense_params.get(dfn, {}), eps=eps,
                            queries=g.queries, topk=g.topk, seed=seed,
                            seed_in_path=self.seeds is not None,
                            suite_sha256=self.file_sha256, ties=self.ties,
                            generators=self.generators,
                            vanilla_params=self.defense_params.get(baseline, {}),
                            parent_params=self._ancestors(dfn, baseline),
                            train_eps=None if budget is None else float(budget),
                            text_flips=g.text_budget)
                if image_text:
                    base["method_params"] = self.method_params.get(method, {})
                for direction, attacks in directions.items():
                    here = dict(base, direction=direction)
                    if self.blackbox_seeds == "first" and seed != self.convergence_seed:
                        attacks = tuple(a for a in attacks if a not in self.blackbox_worst_case)
                    out.append(CellSpec(**here, attack=CLEAN, attack_params={}))
                    for atk in attacks:
                        out.append(CellSpec(**here, attack=atk,
                                            attack_params=self.attack_params.get(atk, {})))
                    checks = self._convergence_cells(here, attacks)
                    out.extend(checks)
                    for aggregate, names in ((WORST_CASE, self.worst_case),
                                             (BLACKBOX_WORST_CASE, self.blackbox_worst_case)):
                        if members := tuple(a for a in attacks if a in names):
                            with_checks = tuple(c.record_name for c in checks) \
                                if aggregate == WORST_CASE else ()
                            out.append(CellSpec(**here, attack=aggregate, attack_params={},
                                                worst_case_of=members,
                                                converge_with=with_checks))
        return out


def _refuse_a_published_name(path: Path, data: dict) -> None:
    """A suite file of one's own must not reuse a package suite's name and version with other
    content: its records would land in that suite's folder and on its board, computed with
    other cells, under the published name. (A package suite equals itself.)"""
    for package_path in package_suites().values():
        published = tomllib.loads(Path(package_path).read_text(encoding="utf-8"))
        if (published["name"], published["version"]) == (data["name"], data["version"]) \
                and published != data:
            raise ConfigError(
                f"suite {path} is named {data['name']!r} version {data['version']}, a published "
                f"suite ({Path(package_path).name}), but differs from it; give your suite "
                "another name (or use --add-defense / --add-attack on the published one)")


def _schema() -> dict:
    return json.loads(resources.files("hashbench").joinpath("schemas/suite.v1.json").read_text())


def package_suites() -> dict[str, Path]:
    folder = resources.files("hashbench").joinpath("suites")
    return {p.name[:-5]: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load_suite(name_or_path: str) -> Suite:
    """A package suite by name, or a suite file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        known = package_suites()
        if name_or_path not in known:
            from hashbench.errors import close_matches

            raise ConfigError(
                f"suite '{name_or_path}' is neither a file nor a package suite"
                f"{close_matches(name_or_path, known)}"
            )
        path = known[name_or_path]
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"suite {path}: not valid TOML ({err})") from err
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data),
                    key=lambda e: e.json_path)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"suite {path}: {errors[0].json_path}: {errors[0].message}{more}")
    check_suite_file(path, data)
    _refuse_a_published_name(path, data)
    suite = Suite(
        name=data["name"], version=data["version"], description=data.get("description", ""),
        seed=data.get("seed", 0), worst_case=tuple(data.get("worst_case", [])),
        blackbox_worst_case=tuple(data.get("blackbox_worst_case", [])),
        groups=tuple(Group.from_dict(g) for g in data["groups"]), defense_params=data.get("defense", {}),
        attack_params=data.get("attack", {}), source=str(path),
        method_params=data.get("method", {}),
        seeds=tuple(data["seeds"]) if "seeds" in data else None,
        cell_timeout=float(data.get("cell_timeout", DEFAULT_CELL_TIMEOUT)),
        file_sha256=hashlib.sha256(raw).hexdigest(), ties=data.get("ties", "index"),
        threads=data.get("threads"), generators=data.get("generators", "key"),
        convergence=data.get("convergence"),
        convergence_seed=data["seeds"][0] if data.get("seeds") else data.get("seed", 0),
        blackbox_seeds=data.get("blackbox_seeds", "all"),
    )
    seen: dict[tuple, int] = {}
    for cell in suite.cells():  # two groups must not compute (and write) the same cell
        key = (cell.dataset, cell.model_id, cell.defense, cell.seed, cell.direction, cell.eps,
               cell.record_name)
        if key in seen:
            raise ConfigError(f"suite {path}: the cell {cell.dataset}/{cell.model_id}/"
                              f"{cell.defense}/{cell.attack} (eps {cell.eps}) comes from two "
                              "groups; list it in one")
        seen[key] = 1
    return suite
