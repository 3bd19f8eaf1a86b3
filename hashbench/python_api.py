"""``hashbench.benchmark``: a trained hashing model, no plugin, measured as a suite cell.

The model is any ``nn.Module`` mapping images in [0,1] to K real outputs whose signs are its
codes (or one of hashbench's own models). It is measured beside a suite's rows: the suite's
dataset protocol, budget, seed and attacks (the ``hash_aa`` ensemble included, its transfer
stage from the suite's own vanilla model of that seed), every adversarial batch checked by the
harness as in ``hashbench run``; the records are the same schema-checked records, marked
third-party (distribution ``python-api``), so ``hashbench report`` ranks the model on the
suite's board.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from hashbench import __version__
from hashbench.data import load_dataset
from hashbench.errors import ConfigError, HandedInModelError, PluginError, close_matches
from hashbench.harness.cells import record_path
from hashbench.harness.guards import CellTimeout, model_fingerprint, time_limit, weights_sha256
from hashbench.harness.handed_in import (
    GuardedModel,
    ImageTextPair,
    check_handed_in,
    check_raw_outputs,
)
from hashbench.harness.provision import HandedInModel, Provisioned
from hashbench.harness.suites import AGGREGATES, CLEAN, IMAGE_TEXT, load_suite
from hashbench.harness.tracks import TRACKS
from hashbench.harness.work import RunOptions, resolve_device
from hashbench.models.adapter import as_hash_model
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.records.io import load_record
from hashbench.registry import NAME_RE
from hashbench.suite_run import run_cells

DIRECTION_NAMES = {"i2t": "I->T", "t2i": "T->I"}


@dataclass(frozen=True)
class AttackResult:
    attack: str
    map: float
    map_ci95: tuple[float, float] | None
    t_map: float | None
    status: str
    error: str | None


@dataclass(frozen=True)
class Evaluation:
    """What ``benchmark`` measured: clean and per-attack mAP (with 95% bootstrap intervals over
    queries), the per-query worst case, and the records written."""

    name: str
    dataset: str
    suite: str
    seed: int
    bits: int
    eps: float
    topk: int | None
    clean_map: float
    random_map: float
    attacks: tuple[AttackResult, ...]
    records: tuple[Path, ...]
    clean_map_ci95: tuple[float, float] | None = None  # bootstrap over queries

    @property
    def worst_case_map(self) -> float | None:
        worst = [a for a in self.attacks if a.attack == "worst_case" and a.status == "ok"]
        return worst[0].map if worst else None

    @property
    def ok(self) -> bool:
        return all(a.status == "ok" for a in self.attacks)

    def to_pandas(self):
        import pandas as pd

        lo, hi = self.clean_map_ci95 or (None, None)
        rows = [{"attack": "clean", "map": self.clean_map, "map_ci_low": lo,
                 "map_ci_high": hi, "t_map": None, "status": "ok", "error": None}]
        for a in self.attacks:
            lo, hi = a.map_ci95 if a.map_ci95 else (None, None)
            rows.append({"attack": a.attack, "map": a.map, "map_ci_low": lo, "map_ci_high": hi,
                         "t_map": a.t_map, "status": a.status, "error": a.error})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        head = (f"{self.name} on {self.dataset} ({self.suite}, seed {self.seed}, {self.bits} bits, "
                f"eps {self.eps:g}, mAP@{self.topk or 'all'}; random ranking {self.random_map:.4f})")
        w = max([14, *(len(a.attack) for a in self.attacks)])
        ci = self.clean_map_ci95
        clean_ci = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
        lines = [head, f"  {'attack':<{w}} {'mAP':>7}  {'95% interval':<17} {'t-mAP':>7}",
                 f"  {'clean':<{w}} {self.clean_map:7.4f}  {clean_ci}".rstrip()]
        for a in self.attacks:
            if a.status != "ok":
                lines.append(f"  {a.attack:<{w}} failed: {a.error}")
                continue
            interval = f"[{a.map_ci95[0]:.4f}, {a.map_ci95[1]:.4f}]" if a.map_ci95 else ""
            t = f"{a.t_map:7.4f}" if a.t_map is not None else ""
            lines.append(f"  {a.attack:<{w}} {a.map:7.4f}  {interval:<17} {t}".rstrip())
        return "\n".join(lines)


class ImageTextEvaluation(dict):
    """What ``benchmark`` measured on an image-text model: an :class:`Evaluation` per
    direction (``"i2t"``: image queries retrieving texts, ``"t2i"``: the reverse)."""

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.values())

    @property
    def records(self) -> tuple[Path, ...]:
        return tuple(p for e in self.values() for p in e.records)

    def to_pandas(self):
        import pandas as pd

        return pd.concat([e.to_pandas().assign(direction=d) for d, e in self.items()],
                         ignore_index=True)

    def __str__(self) -> str:
        return "\n".join(f"[{DIRECTION_NAMES[d]}] {e}" for d, e in self.items())


def _image_text_parts(model) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """``(image, text)`` when ``model`` is an image-text model: a pair of modules, or a module
    with ``image`` and ``text`` sub-modules (hashbench's own image-text models); else None."""
    if isinstance(model, (tuple, list)):
        if len(model) != 2:
            raise ConfigError(f"an image-text model is a pair (image_net, text_net); got "
                              f"{len(model)} items")
        return model[0], model[1]
    image, text = getattr(model, "image", None), getattr(model, "text", None)
    if isinstance(image, torch.nn.Module) and isinstance(text, torch.nn.Module):
        return image, text
    return None


def benchmark(model, dataset: str = "mnist", *, name: str = "my_model",
              suite: str | None = None, attacks: list[str] | tuple[str, ...] | None = None,
              seed: int | None = None, device: str = "auto",
              results: str | Path = "hashbench-results",
              cache: str | Path = ".hashbench-cache", data_root: str | Path | None = None,
              force: bool = False, progress: Progress | None = None, quiet: bool = False
              ) -> Evaluation | ImageTextEvaluation:
    """Measure ``model`` on ``dataset`` as a cell of ``suite`` would be measured.

    ``model`` is an image hashing module, or an image-text one: a pair ``(image_net,
    text_net)`` (images in [0,1] and tag vectors to K real outputs each) or a module with
    ``image`` and ``text`` sub-modules; ``suite`` defaults to ``standard`` for the first and
    ``crossmodal`` for the second. ``attacks`` (default: the suite's, the worst case over its
    members included) picks some of the suite's attacks, image and text ones alike; ``seed``
    (default: the suite's first) picks whose protocol draws and whose vanilla model serves as
    the transfer source. Records go to ``results`` under the suite's layout; an unchanged
    model's finished records are reused unless ``force``. On a board the model is a row of its
    own: model ``external-<name>``, defense ``handed-in``.

    Progress bars are drawn on a terminal (``quiet=True`` turns them off; ``progress`` takes
    a ``hashbench.progress.Progress`` of the caller's). An evaluation the board cannot rank
    (fewer than the suite's attacks, or one of several seeds: a provisional entry) is said
    before it starts, as a ``UserWarning``.
    """
    if not NAME_RE.match(name):
        raise ConfigError(f"name {name!r} must match {NAME_RE.pattern} (it becomes a folder)")
    parts = _image_text_parts(model)
    suite = suite or ("standard" if parts is None else "crossmodal")
    base = load_suite(suite)
    base_seeds = base.run_seeds
    seed = base.run_seeds[0] if seed is None else int(seed)
    base = base.with_seed(seed)
    templates = _templates(base, dataset, image_text=parts is not None)
    suite_attacks, chosen = _chosen_attacks(templates, attacks, suite, dataset)
    _warn_unrankable(base_seeds, seed, suite_attacks, chosen)
    options = RunOptions(results_dir=Path(results), cache_dir=Path(cache), device=device,
                         force=force, data_root=Path(data_root) if data_root else None)
    data = load_dataset(dataset, options.data_root)
    net, sha, codes = _measured_model(model, parts, name, data, resolve_device(device),
                                      base.cell_timeout, templates[0].track)
    cells = _handed_in_cells(templates, chosen, name, net.bits, sha)
    ref = {"name": HANDED_IN, "version": 0, "params": {"weights_sha256": sha},
           "distribution": "python-api", "dist_version": __version__, "third_party": True}
    # the runner takes the model from here, and its transfer source from the suite's own cells
    handed_in = HandedInModel(dataset, cells[0].model_id, HANDED_IN, seed,
                              Provisioned(net, sha, sha, ref, codes), templates[0])
    with _progress(progress, quiet) as shown:
        run_cells(base, cells, options, jobs=1, progress=shown, handed_in=handed_in)

    by_direction = {}
    for direction in dict.fromkeys(c.direction for c in cells):
        mine = [c for c in cells if c.direction == direction]
        by_direction[direction] = _evaluation(options.results_dir, mine, data, name, base, seed,
                                              net.bits)
    if parts is None:
        return by_direction[None]
    return ImageTextEvaluation(by_direction)


HANDED_IN = "handed-in"  # the defense column of a model measured by ``benchmark``


def _chosen_attacks(templates: list, attacks, suite: str, dataset: str
                    ) -> tuple[list[str], list[str]]:
    """(the suite's attacks on ``dataset``, those ``attacks`` picks: all by default)."""
    suite_attacks = list(dict.fromkeys(c.attack for c in templates
                                       if c.attack not in (CLEAN, *AGGREGATES)))
    chosen = list(suite_attacks if attacks is None else attacks)
    unknown = [a for a in chosen if a not in suite_attacks]
    if unknown:
        raise ConfigError(f"suite {suite} has no attack {unknown[0]!r} on {dataset}"
                          f"{close_matches(unknown[0], suite_attacks)}; its attacks: "
                          f"{', '.join(suite_attacks)}")
    return suite_attacks, chosen


def _handed_in_cells(templates: list, chosen: list[str], name: str, bits: int, sha: str
                     ) -> list:
    """The suite's cells of the baseline model, restricted to ``chosen``, as the handed-in
    model's: the board's model column names it (external-<name>); it brings its own training,
    so its defense column says it was handed in."""
    cells = []
    for c in templates:
        if c.attack in AGGREGATES:
            members = tuple(a for a in c.worst_case_of if a in chosen)
            if not members:
                continue
            c = replace(c, worst_case_of=members)
        elif c.attack != CLEAN and c.attack not in chosen:
            continue
        cells.append(replace(c, method="external", backbone=name, bits=bits,
                             defense=HANDED_IN, defense_params={"weights_sha256": sha}))
    return cells


@contextmanager
def _progress(given: Progress | None, quiet: bool):
    """The caller's progress, else bars on a terminal (none when ``quiet`` or not a terminal)."""
    if given is not None or quiet:
        yield given or NULL_PROGRESS
        return
    from hashbench.commands.output import RichProgress, console, progress_bars

    if not console.is_terminal:
        yield NULL_PROGRESS
        return
    with progress_bars() as bar:
        yield RichProgress(bar)


def _warn_unrankable(suite_seeds, seed: int, suite_attacks: list[str], chosen: list[str]) -> None:
    """Say, before anything runs, why the board will list this evaluation as provisional."""
    import warnings

    lacks = []
    if set(chosen) != set(suite_attacks):
        lacks.append(f"{' + '.join(chosen) or 'no attack'} of the suite's "
                     f"{', '.join(suite_attacks)}")
    if len(suite_seeds) > 1:
        lacks.append(f"seed {seed} of the suite's {len(suite_seeds)} seeds (call benchmark "
                     "with each of seed=" + ", ".join(map(str, suite_seeds)) + " to cover them)")
    if lacks:
        warnings.warn("this evaluation covers " + "; ".join(lacks) + ": the leaderboard lists "
                      "it as a provisional entry, unranked", UserWarning, stacklevel=4)


def _measured_model(model, parts, name: str, data, device, seconds: float, track):
    """The handed-in model as the harness runs it, the sha256 of its weights and the codes a
    suite model of the track gets; its first calls run under the suite's cell time limit (a
    model that never returns fails here, with its name, instead of hanging the caller)."""
    who = f"model '{name}'"
    for i, part in enumerate([model] if parts is None else parts):
        check_handed_in(part, who if parts is None else f"{who} ({('image', 'text')[i]} side)")
    if parts is not None and not data.has_texts:
        raise ConfigError(f"dataset {data.name} has no tag vectors; an image-text model "
                          "is measured on an image-text dataset (mnist_multi)")
    with _model_time_limit(seconds, who):
        net, sha = _guarded_model(model, parts, data, device, who)
        return net, sha, track.codes(net, data)


@contextmanager
def _model_time_limit(seconds: float, who: str):
    try:
        with time_limit(seconds, who):
            yield
    except CellTimeout as err:
        raise PluginError(f"{err} while probed and encoded (pass a faster model, or a suite "
                          "with a larger cell_timeout)") from None


def _guarded_model(model, parts, data, device: torch.device, who: str):
    """The handed-in model as the harness runs it (``GuardedModel``: every call checked and
    blamed on ``who``) and the sha256 of its weights; probed first: two calls on clean inputs
    must leave its weights, buffers and mode as they were."""
    images = data.query.images(torch.arange(2)).to(device)

    def adapted(module, example, inputs="images"):  # as_hash_model, its errors naming the model
        try:
            return as_hash_model(module, example, inputs)
        except (ConfigError, HandedInModelError) as err:
            raise type(err)(f"{who}: {err}") from None

    net: torch.nn.Module
    probes: list[tuple[Any, torch.Tensor]]
    if parts is None:
        raw = adapted(model.to(device), images)
        check_raw_outputs(raw, images, who)
        net = GuardedModel(raw, who)
        probes = [(net, images)]
    else:
        texts = data.query.texts[:2].to(device)
        raw = ImageTextPair(adapted(parts[0].to(device), images),
                            adapted(parts[1].to(device), texts, "tag vectors"))
        check_raw_outputs(raw.image, images, f"{who} (image side)")
        check_raw_outputs(raw.text, texts, f"{who} (text side)")
        image = GuardedModel(raw.image, f"{who} (image side)")
        text = GuardedModel(raw.text, f"{who} (text side)")
        net = ImageTextPair(image, text)
        probes = [(image, images), (text, texts)]
    sha = weights_sha256(raw)  # of the model itself, as before the guard existed
    before = model_fingerprint(raw)
    for side, x in probes:
        x = x.clone().requires_grad_(True)
        torch.autograd.grad(side(x).sum(), x)  # as an attack calls it (no .grad left behind)
        side.encode(x.detach())
    if model_fingerprint(raw) != before:
        raise PluginError(f"{who} changed its weights, buffers or train/eval mode when called "
                          "on clean inputs; its forward must leave its state as it found it")
    return net, sha


def _templates(suite, dataset: str, image_text: bool) -> list:
    """The suite's cells of its undefended model on ``dataset``, for one model configuration
    (its first): what a handed-in model is measured as."""
    baseline = TRACKS[IMAGE_TEXT if image_text else "image"].baseline
    cells = [c for c in suite.cells() if c.dataset == dataset and c.defense == baseline
             and (c.direction is not None) == image_text]
    if not cells:
        kind = "image-text" if image_text else "image"
        datasets = sorted({c.dataset for c in suite.cells()
                           if (c.direction is not None) == image_text})
        raise ConfigError(f"suite {suite.name} has no {kind} cells on {dataset!r}; its "
                          f"datasets: {', '.join(datasets) or 'none'}"
                          + ("" if datasets else f" (try suite="
                             f"{'crossmodal' if image_text else 'standard'})"))
    first = cells[0]
    return [c for c in cells if (c.method, c.backbone, c.bits) ==
            (first.method, first.backbone, first.bits)]


def _evaluation(results_dir: Path, cells: list, data, name: str, suite, seed: int,
                bits: int) -> Evaluation:
    """The records of ``cells`` (one direction) read back as an :class:`Evaluation`."""
    out, clean, eps, topk, random_map, paths = [], None, data.eps, None, 0.0, []
    clean_ci = None
    for cell in cells:
        path = record_path(results_dir, cell, data.eps)
        paths.append(path)
        rec = load_record(path)
        m = rec["metrics"]
        eps, topk = m["eps"], m["topk"]
        if cell.attack == CLEAN:
            if rec["status"] != "ok":
                raise ConfigError(f"the model could not be measured on {data.name}: "
                                  f"{rec['error']}")
            clean, random_map = m["clean_map"], m.get("random_map", 0.0)
            clean_ci = tuple(m["clean_map_ci95"]) if m.get("clean_map_ci95") else None
            continue
        ci = m.get("map_ci95")
        out.append(AttackResult(cell.attack, m.get("map", float("nan")),
                                tuple(ci) if ci else None, m.get("t_map"), rec["status"],
                                rec["error"]))
    if clean is None:
        raise ConfigError(f"the model's clean cell on {data.name} has no record")
    return Evaluation(name, data.name, f"{suite.name} v{suite.version}", seed, bits, eps, topk,
                      clean, random_map, tuple(out), tuple(paths), clean_ci)
