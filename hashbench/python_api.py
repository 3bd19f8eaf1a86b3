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

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hashbench import __version__
from hashbench.cells import record_path
from hashbench.data import load_dataset
from hashbench.errors import ConfigError
from hashbench.guards import weights_sha256
from hashbench.models.adapter import as_hash_model
from hashbench.progress import NULL_PROGRESS, Progress
from hashbench.provision import Provisioned
from hashbench.records import load_record
from hashbench.registry import NAME_RE, close_matches
from hashbench.runner import Runner, RunOptions
from hashbench.suites import CLEAN, WORST_CASE, load_suite
from hashbench.training import encode_split

BASELINE = "vanilla"


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

    @property
    def worst_case_map(self) -> float | None:
        worst = [a for a in self.attacks if a.attack == "worst_case" and a.status == "ok"]
        return worst[0].map if worst else None

    @property
    def ok(self) -> bool:
        return all(a.status == "ok" for a in self.attacks)

    def to_pandas(self):
        import pandas as pd

        rows = [{"attack": "clean", "map": self.clean_map, "map_ci_low": None,
                 "map_ci_high": None, "t_map": None, "status": "ok", "error": None}]
        for a in self.attacks:
            lo, hi = a.map_ci95 if a.map_ci95 else (None, None)
            rows.append({"attack": a.attack, "map": a.map, "map_ci_low": lo, "map_ci_high": hi,
                         "t_map": a.t_map, "status": a.status, "error": a.error})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        head = (f"{self.name} on {self.dataset} ({self.suite}, seed {self.seed}, {self.bits} bits, "
                f"eps {self.eps:g}, mAP@{self.topk or 'all'}; random ranking {self.random_map:.4f})")
        lines = [head, f"  {'attack':<14} {'mAP':>7}  {'95% interval':<17} {'t-mAP':>7}",
                 f"  {'clean':<14} {self.clean_map:7.4f}"]
        for a in self.attacks:
            if a.status != "ok":
                lines.append(f"  {a.attack:<14} failed: {a.error}")
                continue
            ci = f"[{a.map_ci95[0]:.4f}, {a.map_ci95[1]:.4f}]" if a.map_ci95 else ""
            t = f"{a.t_map:7.4f}" if a.t_map is not None else ""
            lines.append(f"  {a.attack:<14} {a.map:7.4f}  {ci:<17} {t}")
        return "\n".join(lines)


def benchmark(model: torch.nn.Module, dataset: str = "mnist", *, name: str = "my_model",
             suite: str = "standard", attacks: list[str] | tuple[str, ...] | None = None,
             seed: int | None = None, device: str = "auto",
             results: str | Path = "hashbench-results",
             cache: str | Path = ".hashbench-cache", data_root: str | Path | None = None,
             force: bool = False, progress: Progress = NULL_PROGRESS) -> Evaluation:
    """Measure ``model`` on ``dataset`` as a cell of ``suite`` would be measured.

    ``attacks`` (default: the suite's, the worst case over its members included) picks some of
    the suite's attacks; ``seed`` (default: the suite's first) picks whose protocol draws and
    whose vanilla model serves as the transfer source. Records go to ``results`` under the
    suite's layout; an unchanged model's finished records are reused unless ``force``.
    """
    if not NAME_RE.match(name):
        raise ConfigError(f"name {name!r} must match {NAME_RE.pattern} (it becomes a folder)")
    base = load_suite(suite)
    seed = base.run_seeds[0] if seed is None else int(seed)
    base = base.with_seed(seed)
    templates = [c for c in base.cells() if c.dataset == dataset and c.defense == BASELINE
                 and c.direction is None]
    if not templates:
        datasets = sorted({c.dataset for c in base.cells() if c.direction is None})
        raise ConfigError(f"suite {suite} has no image cells on {dataset!r}; its datasets: "
                          f"{', '.join(datasets)}")
    first = templates[0]
    templates = [c for c in templates if (c.method, c.backbone, c.bits) ==
                 (first.method, first.backbone, first.bits)]
    suite_attacks = [c.attack for c in templates if c.attack not in (CLEAN, WORST_CASE)]
    chosen = list(suite_attacks if attacks is None else attacks)
    unknown = [a for a in chosen if a not in suite_attacks]
    if unknown:
        raise ConfigError(f"suite {suite} has no attack {unknown[0]!r} on {dataset}"
                          f"{close_matches(unknown[0], suite_attacks)}; its attacks: "
                          f"{', '.join(suite_attacks)}")

    runner = Runner(RunOptions(Path(results), Path(cache), device, force, False,
                               Path(data_root) if data_root else None), progress)
    data = load_dataset(dataset, runner.opt.data_root)
    net = as_hash_model(model.to(runner.device),
                        data.query.images(torch.arange(2)).to(runner.device))
    sha = weights_sha256(net)
    cells = []
    for c in templates:
        if c.attack == WORST_CASE:
            members = tuple(a for a in c.worst_case_of if a in chosen)
            if not members:
                continue
            c = replace(c, worst_case_of=members)
        elif c.attack != CLEAN and c.attack not in chosen:
            continue
        cells.append(replace(c, method="external", backbone="module", bits=net.bits,
                             defense=name, defense_params={"weights_sha256": sha}))
    ref = {"name": name, "version": 0, "params": {"weights_sha256": sha},
           "distribution": "python-api", "dist_version": __version__, "third_party": True}
    codes = {"train": encode_split(net, data.train), "database": encode_split(net, data.database)}
    given = (dataset, cells[0].model_id, name, seed)
    runner.provisioner.given[given] = Provisioned(net, sha, sha, ref, codes)
    runner.provisioner.given_sources[(dataset, cells[0].model_id, seed)] = first
    runner.run(base, cells)

    out, clean, eps, topk, random_map = [], None, data.eps, None, 0.0
    paths = []
    for cell in cells:
        path = record_path(runner.opt.results_dir, cell, data.eps)
        paths.append(path)
        rec = load_record(path)
        m = rec["metrics"]
        eps, topk = m["eps"], m["topk"]
        if cell.attack == CLEAN:
            if rec["status"] != "ok":
                raise ConfigError(f"the model could not be measured on {dataset}: "
                                  f"{rec['error']}")
            clean, random_map = m["clean_map"], m.get("random_map", 0.0)
            continue
        ci = m.get("map_ci95")
        out.append(AttackResult(cell.attack, m.get("map", float("nan")),
                                tuple(ci) if ci else None, m.get("t_map"), rec["status"],
                                rec["error"]))
    return Evaluation(name, dataset, f"{base.name} v{base.version}", seed, net.bits, eps, topk,
                      clean, random_map, tuple(out), tuple(paths))


class ScriptAttack:
    """A registered attack for scripts, torchattacks-style: ``atk = hashbench.attack("hag",
    eps=8/255); x_adv = atk(model, images)``. Every batch it returns passed the harness's check
    (finite, [0,1], within eps, shaped like ``images``)."""

    def __init__(self, name: str, eps: float, seed: int = 0, **params):
        from hashbench.registry import attacks

        self.attack = attacks.create(name, eps=eps, **params)
        self.seed = seed

    def __call__(self, model: torch.nn.Module, images: torch.Tensor,
                 labels: torch.Tensor | None = None, *,
                 database: tuple[torch.Tensor, torch.Tensor] | None = None,
                 train: tuple[torch.Tensor, torch.Tensor] | None = None,
                 target_labels: torch.Tensor | None = None) -> torch.Tensor:
        """``labels``: the queries' label vectors; ``database`` / ``train``: (codes in {-1,+1},
        label vectors) of the items the attack may use (``train`` defaults to ``database``).
        Which of them an attack needs is its ``needs``; a missing one is a one-line error."""
        from hashbench.api import AttackContext, Need, QueryBatch
        from hashbench.threat_model import check_adversarial

        attack = self.attack
        net = as_hash_model(model, images[:2])
        train = train if train is not None else database
        provided = {}
        if database is not None:
            provided[Need.DATABASE_CODES.value], provided[Need.DATABASE_LABELS.value] = database
        if train is not None:
            provided[Need.TRAIN_CODES.value], provided[Need.TRAIN_LABELS.value] = train
        missing = sorted(n.value for n in type(attack).needs if n.value not in provided
                         and n not in (Need.QUERY_LABELS, Need.TARGET_LABELS))
        if Need.QUERY_LABELS in type(attack).needs and labels is None:
            missing.append("labels")
        if Need.TARGET_LABELS in type(attack).needs and target_labels is None:
            missing.append("target_labels")
        if missing:
            raise ConfigError(f"attack {attack.name} needs {', '.join(missing)}; pass labels=, "
                              "database=(codes, labels), train=(codes, labels) or "
                              "target_labels= as it says")
        ctx = AttackContext(type(attack).needs, self.seed, "script", f"attack {attack.name}",
                            **provided)
        batch = QueryBatch(index=torch.arange(len(images)), labels=labels,
                           target_labels=target_labels)
        x_adv = attack.perturb(net, images, batch, attack.prepare(net, ctx), ctx)
        check_adversarial(images, x_adv, attack.params.eps, f"attack {attack.name}")
        return x_adv
