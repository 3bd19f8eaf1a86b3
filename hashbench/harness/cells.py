"""How a suite's cells are addressed and chosen: ``--only`` / ``--exclude`` filters, the record
path of a cell, and the protocol values a cell resolves (its mAP@K, its protocol hash)."""

from __future__ import annotations

from pathlib import Path

from hashbench.errors import HashbenchError
from hashbench.harness.suites import CellSpec
from hashbench.records.paths import check_component, inside

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
