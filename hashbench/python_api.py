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

import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from hashbench import __version__, cpu_kernels
from hashbench.data import load_dataset
from hashbench.errors import (
    ConfigError,
    HandedInModelError,
    HashbenchError,
    PluginError,
    close_matches,
)
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
from hashbench.records.evaluation import (  # noqa: F401 - re-exported: benchmark's results
    DIRECTION_NAMES,
    AttackResult,
    Evaluation,
    ImageTextEvaluation,
)
from hashbench.records.io import load_record
from hashbench.records.types import DRAWS_AS, HANDED_IN, WORST_CASE
from hashbench.registry import NAME_RE
from hashbench.suite_run import run_cells


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
              force: bool = False, progress: Progress | None = None, quiet: bool = False,
              threads: int | None = None, trained_seed: int | None = None
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

    Bars on a terminal, plain lines elsewhere (``quiet``: neither; ``progress``: the caller's
    ``hashbench.progress.Progress``); ``threads`` (default ``$OMP_NUM_THREADS``) holds torch
    and numba for the whole call, and the records say the count. Seeds are seeds only for a
    model trained under each: hand it in as ``seed=s, trained_seed=s``; one model under
    several seeds has an attack-draw interval and is never ranked. A ``UserWarning`` says
    first what the board will show of the row when it is not ranked (``Evaluation.row``).
    """
    if not NAME_RE.match(name):
        raise ConfigError(f"name {name!r} must match {NAME_RE.pattern} (it becomes a folder)")
    parts = _image_text_parts(model)
    suite = suite or ("standard" if parts is None else "crossmodal")
    base_seeds = (base := load_suite(suite)).run_seeds
    seed = base_seeds[0] if seed is None else int(seed)
    base = base.with_seed(seed)
    templates = _templates(base, dataset, image_text=parts is not None)
    suite_attacks, chosen = _chosen_attacks(templates, attacks, suite, dataset)
    options = RunOptions(results_dir=Path(results), cache_dir=Path(cache), device=device,
                         force=force, data_root=Path(data_root) if data_root else None,
                         threads=threads)
    data, on = load_dataset(dataset, options.data_root), resolve_device(device)
    net, sha, codes = _measured_model(model, parts, name, data, on, base.cell_timeout,
                                      templates[0].track)
    declared = _declared(trained_seed, _published_as(base, dataset, seed, sha, data, on))
    cells = _handed_in_cells(templates, chosen, name, net.bits, sha, declared)
    ranked, row = row_outlook(options.results_dir, cells, data.eps, base_seeds,
                              _worst_case_members(templates, suite_attacks))
    if not ranked:
        warnings.warn(row, UserWarning, stacklevel=2)
    ref = {"name": HANDED_IN, "version": 0, "params": {"weights_sha256": sha, **declared},
           "distribution": "python-api", "dist_version": __version__, "third_party": True}
    # the runner takes the model from here, and its transfer source from the suite's own cells
    handed_in = HandedInModel(dataset, cells[0].model_id, HANDED_IN, seed,
                              Provisioned(net, sha, sha, ref, codes), templates[0])
    with _progress(progress, quiet) as shown:
        run_cells(base, cells, options, jobs=1, progress=shown, handed_in=handed_in)
    by_direction = {d: replace(_evaluation(options.results_dir, [c for c in cells
                                                                  if c.direction == d],
                                           data, name, base, seed, net.bits), row=row)
                    for d in dict.fromkeys(c.direction for c in cells)}
    return by_direction[None] if parts is None else ImageTextEvaluation(by_direction)


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


def _worst_case_members(templates: list, suite_attacks: list[str]) -> list[str]:
    """The attacks a ranked row needs (its suite's white-box worst case; the black-box attacks
    and the convergence check are columns beside it), in the suite's order."""
    members = {a for c in templates if c.attack == WORST_CASE for a in c.worst_case_of}
    return [a for a in suite_attacks if a in members]


def _handed_in_cells(templates: list, chosen: list[str], name: str, bits: int, sha: str,
                     declared: dict) -> list:
    """The suite's cells of the baseline model, restricted to ``chosen``, as the handed-in
    model's: the board's model column names it (external-<name>); it brings its own training,
    so its defense column says it was handed in."""
    cells = []
    for c in templates:
        if c.attack in AGGREGATES:
            members = tuple(a for a in c.worst_case_of if a in chosen)
            if not members:
                continue
            checks = tuple(n for n in c.converge_with if n.rpartition("-x")[0] in chosen)
            c = replace(c, worst_case_of=members, converge_with=checks)
        elif c.attack != CLEAN and c.attack not in chosen:
            continue
        cells.append(replace(c, method="external", backbone=name, bits=bits, defense=HANDED_IN,
                             defense_params={"weights_sha256": sha, **declared}))
    return cells


@contextmanager
def _progress(given: Progress | None, quiet: bool):
    """The caller's progress, else bars on a terminal and plain lines where output is no
    terminal (a log file, a notebook's captured output); nothing when ``quiet``."""
    if given is not None or quiet:
        yield given or NULL_PROGRESS
        return
    from hashbench.commands.output import RichProgress, progress_bars

    with progress_bars() as bar:
        yield RichProgress(bar)


def row_outlook(results_dir: Path, cells: list, protocol_eps: float, suite_seeds,
                suite_attacks: list[str]) -> tuple[bool, str]:
    """(whether the board will rank this model's row once this call ends, what it will show):
    this call's cells with the records earlier calls left for the suite's other seeds."""
    from hashbench.report.ranking import seed_kind

    clean = next(c for c in cells if c.attack == CLEAN)
    worst = next((c for c in cells if c.attack in AGGREGATES), None)
    seeds = {clean.seed: (clean.defense_params, set(worst.worst_case_of) if worst else set())}
    for s in suite_seeds:
        if s in seeds:
            continue
        rec = _record(record_path(results_dir, replace(clean, seed=s), protocol_eps))
        if rec is not None:
            path = record_path(results_dir, replace(clean, seed=s, attack=AGGREGATES[0]),
                               protocol_eps)
            done = _record(path)
            seeds[s] = (rec["model"]["defense"]["params"],
                        set(done["cell"]["worst_case_of"]) if done else set())
    kind, why = seed_kind({(s, ""): {p["weights_sha256"]} for s, (p, _) in seeds.items()},
                          HANDED_IN, {s: p.get("trained_seed") for s, (p, _) in seeds.items()})
    lacks = [why] if why else []
    missing = [s for s in suite_seeds if s not in seeds]
    if missing:
        lacks.append(f"seeds {', '.join(map(str, missing))} of the suite's "
                     f"{', '.join(map(str, suite_seeds))} not evaluated (call benchmark with "
                     f"seed=s, trained_seed=s for the model trained with each)")
    short = {s for s, (_, covered) in seeds.items() if set(suite_attacks) - covered}
    if short:
        lacks.append(f"fewer than the suite's attacks ({', '.join(suite_attacks)}) at seed "
                     f"{', '.join(map(str, sorted(short)))}")
    state = "a ranked row" if not lacks else "a provisional entry, unranked: " + "; ".join(lacks)
    return not lacks, (f"once this call ends, this model's row holds seeds "
                       f"{', '.join(map(str, sorted(seeds)))}, its interval over {kind}: "
                       f"{state}")


def _record(path: Path) -> dict | None:
    try:
        rec = load_record(path) if path.is_file() else None
    except HashbenchError:
        return None
    return rec if rec is not None and rec["status"] == "ok" else None


def _measured_model(model, parts, name: str, data, device, seconds: float, track):
    """The handed-in model as the harness runs it, the sha256 of its weights and the codes a
    suite model of the track gets; its first calls run under the suite's cell time limit (a
    model that never returns fails here, with its name, instead of hanging the caller)."""
    who = f"model '{name}'"
    if why := cpu_kernels.mismatch():  # a library cannot pin what torch loaded before it
        warnings.warn(f"{why}; {who}'s numbers may then differ from the published rows' in "
                      "their last digits", UserWarning, stacklevel=3)
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
    raw = _harness_model(model, parts, data, device, who)
    net: torch.nn.Module
    probes: list[tuple[Any, torch.Tensor]]
    if parts is None:
        net = GuardedModel(raw, who)
        probes = [(net, images)]
    else:
        image = GuardedModel(raw.image, f"{who} (image side)")
        text = GuardedModel(raw.text, f"{who} (text side)")
        net = ImageTextPair(image, text)
        probes = [(image, images), (text, data.query.texts[:2].to(device))]
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


def _harness_model(model, parts, data, device: torch.device, who: str):
    """``model`` as a harness model (a hashbench model as itself, anything else wrapped), its
    outputs on two clean queries checked; an image-text model as an ``ImageTextPair``."""
    images = data.query.images(torch.arange(2)).to(device)

    def adapted(module, example, inputs="images"):  # as_hash_model, its errors naming the model
        try:
            return as_hash_model(module, example, inputs)
        except (ConfigError, HandedInModelError) as err:
            raise type(err)(f"{who}: {err}") from None

    if parts is None:
        raw = adapted(model.to(device), images)
        check_raw_outputs(raw, images, who)
        return raw
    texts = data.query.texts[:2].to(device)
    pair = ImageTextPair(adapted(parts[0].to(device), images),
                         adapted(parts[1].to(device), texts, "tag vectors"))
    check_raw_outputs(pair.image, images, f"{who} (image side)")
    check_raw_outputs(pair.text, texts, f"{who} (text side)")
    return pair


def _declared(trained_seed: int | None, published: str | None) -> dict[str, Any]:
    """What the handed-in defense's parameters declare: the seed it was trained with, and the
    published model whose draws it meets when its weights are that model's."""
    declared: dict[str, Any] = {}
    if trained_seed is not None:
        declared["trained_seed"] = int(trained_seed)
    if published:
        declared[DRAWS_AS] = published
    return declared


def _published_as(suite, dataset: str, seed: int, sha: str, data, device) -> str | None:
    """``<model id>/<defense>`` of the published model of ``suite`` on ``dataset`` whose
    checkpoint at root seed ``seed`` has the handed-in weights (their sha256), else None: such
    a model is measured on its published row's draws, so handing it back in gives that row."""
    from hashbench.harness.cells import suite_folder
    from hashbench.zoo import entries, load_model

    folder = f"{suite_folder(suite.name, suite.version)}/{dataset}/"
    try:
        names = dict.fromkeys(e.name for e in entries() if e.name.startswith(folder)
                              and e.seed == seed)
    except HashbenchError:  # no zoo here: nothing is published to match
        return None
    for name in names:
        published = load_model(name, seed, device)
        raw = _harness_model(published, _image_text_parts(published), data, device, name)
        if weights_sha256(raw) == sha:
            return name[len(folder):]
    return None


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
        out.append(AttackResult(cell.record_name, m.get("map", float("nan")),
                                tuple(ci) if ci else None, m.get("t_map"), rec["status"],
                                rec["error"]))
    if clean is None:
        raise ConfigError(f"the model's clean cell on {data.name} has no record")
    return Evaluation(name, data.name, f"{suite.name} v{suite.version}", seed, bits, eps, topk,
                      clean, random_map, tuple(out), tuple(paths), clean_ci)
