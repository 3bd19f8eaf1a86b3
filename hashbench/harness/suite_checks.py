"""What a suite file must satisfy beyond its JSON Schema: every name known (with close
matches), every parameter section used, nothing listed twice, finite budgets and time limits,
one way of giving seeds."""

from __future__ import annotations

import math
from pathlib import Path

from hashbench.errors import ConfigError
from hashbench.harness.threat_model import access_violation

IMAGE_TEXT = "image-text"
# a suite file that does not say: an hour, some ten times the dearest CPU cell of standard v2
# (a defense's training with its vanilla parent); GPU literature suites set their own
DEFAULT_CELL_TIMEOUT = 3600.0
MAX_CELL_TIMEOUT = 604800.0  # a week, as the suite schema says
MAX_SEED = 2**32 - 1  # numpy's seed range; the suite schema bounds seed and seeds alike


def check_suite_file(path: Path, data: dict) -> None:
    """What the schema cannot say: every name is known (with close matches), every parameter
    section configures something a group uses, and no group or cell is listed twice."""
    from hashbench.registry import defenses

    used: dict[str, set[str]] = {"defense": set(), "attack": set(), "method": set()}
    for i, g in enumerate(data["groups"]):
        where = f"suite {path}: groups[{i}]"
        if g in data["groups"][:i]:
            raise ConfigError(f"{where} repeats groups[{data['groups'].index(g)}]; remove one")
        _check_group(g, where, used)
    # a defense's parent (the defense it fine-tunes) takes its parameters from its own section
    used["defense"].update({defenses.get(n).starts_from for n in set(used["defense"])} -
                           {"scratch"})
    _check_numbers(path, data)
    _check_sections(path, data, used)


def _check_group(g: dict, where: str, used: dict[str, set[str]]) -> None:
    """One group: no value listed twice, its methods of its modality, its plugins loadable
    (a plugin that fails to import stops the run before anything trains)."""
    from hashbench.errors import close_matches
    from hashbench.registry import attacks, defenses, methods, methods_of

    for key in ("datasets", "methods", "backbones", "bits", "defenses", "attacks",
                "text_attacks", "eps"):
        values = g.get(key, [])
        dupes = sorted({str(v) for v in values if values.count(v) > 1})
        if dupes:
            raise ConfigError(f"{where}: {key} lists {', '.join(dupes)} twice; list each once")
    kind = g.get("modality", "image")
    same = methods_of(kind)
    for name in g["methods"]:
        if name in same:
            continue
        if name in methods.names():
            raise ConfigError(f"{where}: method '{name}' is an "
                              f"{methods.get(name).modality} hashing method, but this "
                              f"group is {kind}; use one of {', '.join(same)}")
        raise ConfigError(f"{where}: unknown hashing method '{name}'"
                          f"{close_matches(name, same)}")
    check_modalities(g, where)
    listed = [*g["attacks"], *g.get("text_attacks", [])]
    for name in g["defenses"]:
        defenses.get(name)
    for name in listed:
        why = access_violation(attacks.get(name))
        if why:
            raise ConfigError(f"{where}: attack '{name}' {why}; fix the plugin's needs")
    used["defense"].update(g["defenses"])
    used["attack"].update(listed)
    used["method"].update(g["methods"])


def _check_numbers(path: Path, data: dict) -> None:
    """Seeds given once; a finite time limit and finite budgets."""
    if "seed" in data and "seeds" in data:
        raise ConfigError(f"suite {path}: sets both seed ({data['seed']}) and seeds; keep one "
                          "(seeds lists every root seed the suite runs)")
    if "cell_timeout" in data and not math.isfinite(data["cell_timeout"]):
        raise ConfigError(f"suite {path}: cell_timeout is {data['cell_timeout']}; give a finite "
                          f"number of seconds (0: no limit, at most {MAX_CELL_TIMEOUT:g})")
    for i, g in enumerate(data["groups"]):
        if "text_budget" in g and g.get("modality", "image") != "image-text":
            raise ConfigError(f"suite {path}: groups[{i}].text_budget is set on an image group; "
                              "it is the tag budget of an image-text group's text attacks: "
                              "drop it, or set modality = \"image-text\"")
        for key in ("eps", "budget"):
            for v in g[key] if isinstance(g.get(key), list) else [g.get(key, 0.0)]:
                if not math.isfinite(v):
                    raise ConfigError(f"suite {path}: groups[{i}].{key} holds {v}; a budget is "
                                      "a finite number in [0, 1]")


def _check_sections(path: Path, data: dict, used: dict[str, set[str]]) -> None:
    """Every parameter section configures a plugin a group uses (its parameters checked now,
    not when a cell first runs); the worst cases name attacks the groups run."""
    from hashbench.errors import close_matches
    from hashbench.registry import Registry, attacks, defenses, methods

    registries: dict[str, Registry] = {"defense": defenses, "attack": attacks, "method": methods}
    for kind in ("defense", "attack", "method"):
        for name, params in data.get(kind, {}).items():
            if name not in used[kind]:
                raise ConfigError(
                    f"suite {path}: [{kind}.{name}] configures a {kind} no group uses"
                    f"{close_matches(name, used[kind])}; fix the name or remove the section")
            if kind != "method" or any(g.get("modality") == IMAGE_TEXT for g in data["groups"]):
                registries[kind].check_params(name, params)
    for key in ("worst_case", "blackbox_worst_case"):
        for name in data.get(key, []):
            if name not in used["attack"]:
                raise ConfigError(f"suite {path}: {key} names '{name}', an attack no group "
                                  f"runs{close_matches(name, used['attack'])}")
            if key == "blackbox_worst_case" and not attacks.get(name).blackbox:
                raise ConfigError(f"suite {path}: blackbox_worst_case names '{name}', which reads "
                                  "the attacked model; list only attacks that need rankings or "
                                  "nothing of it (ranking_blackbox, transfer, transfer_arch)")
    if data.get("blackbox_seeds", "all") == "first":
        both = sorted(set(data.get("blackbox_worst_case", [])) & set(data.get("worst_case", [])))
        if not data.get("blackbox_worst_case"):
            raise ConfigError(f"suite {path}: blackbox_seeds = \"first\" without a "
                              "blackbox_worst_case; list its attacks or remove the key")
        if both:  # the white-box worst case must see its members at every seed
            raise ConfigError(f"suite {path}: blackbox_seeds = \"first\" would leave "
                              f"{', '.join(both)} out of the worst case at the other seeds; "
                              "take it out of one of the two lists")
    _check_convergence(path, data)


def _check_convergence(path: Path, data: dict) -> None:
    """The convergence check names an attack of the worst case with an iteration budget."""
    import dataclasses

    from hashbench.registry import attacks

    name = data.get("convergence")
    if name is None:
        return
    if name not in data.get("worst_case", []):
        raise ConfigError(f"suite {path}: convergence names '{name}', which is not in "
                          f"worst_case ({', '.join(data.get('worst_case', [])) or 'empty'}); "
                          "name the worst case's strongest attack")
    if "steps" not in {f.name for f in dataclasses.fields(attacks.get(name).Params)}:
        raise ConfigError(f"suite {path}: convergence names '{name}', which has no steps to "
                          "double; name an iterative attack (hash_aa)")


def check_modalities(group: dict, where: str) -> None:
    """Every defense of ``group`` trains models of the group's modality, every attack under
    ``attacks`` perturbs images and every one under ``text_attacks`` perturbs tag vectors (an
    image-text group only): checked when the suite is loaded, before anything trains."""
    from hashbench.registry import attacks, defenses

    kind = group.get("modality", "image")
    for name in group["defenses"]:
        modality = defenses.get(name).modality
        if modality != kind:
            same = [n for n in defenses.names() if defenses.entry(n).error is None
                    and defenses.get(n).modality == kind]
            raise ConfigError(f"{where}: defense '{name}' trains {modality} hashing models, but "
                              f"this group is {kind}; use a {kind} defense "
                              f"({', '.join(same)})")
    if group.get("text_attacks") and kind != IMAGE_TEXT:
        raise ConfigError(f"{where}: text_attacks in an {kind} group, which has no text "
                          "queries; list them in an image-text group")
    for key, want in (("attacks", "image"), ("text_attacks", "text")):
        for name in group.get(key, []):
            modality = attacks.get(name).modality
            if modality != want:
                right = ("an image-text group's text_attacks" if modality == "text"
                         else "attacks (image queries)")
                raise ConfigError(f"{where}: attack '{name}' perturbs {modality} queries, but "
                                  f"{key} lists {want} attacks; list it under {right}")
