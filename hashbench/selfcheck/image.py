"""``hashbench selfcheck``: run one plugin on a slice of the embedded MNIST and check its contract.

Each rule gives a result with what was measured and, when it fails, the fix. The checks are the
ones the harness relies on: a defense returns a hashing model with K-bit codes in {-1,+1}, finite
weights, the same weights for the same seed, and leaves the data alone; an attack stays in [0,1]
and inside the eps-ball, is deterministic under a seed, moves nothing at eps=0, and leaves the
model's weights and train/eval mode as it found them.
"""

from __future__ import annotations

import copy
import dataclasses
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import torch

from hashbench.api import (
    AttackContext,
    Need,
    QueryBatch,
    RankingOracle,
    SourceModel,
    TrainContext,
)
from hashbench.data import load_dataset
from hashbench.errors import HashbenchError
from hashbench.harness.evaluate import ranked_ids
from hashbench.harness.guards import global_rng_state, restore_global_rngs, touched_global_rngs
from hashbench.harness.sandbox import RankingSandbox
from hashbench.harness.threat_model import access_violation, check_adversarial
from hashbench.kit.seeding import generator
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.registry import attacks as attack_registry
from hashbench.registry import make_loss

BITS = 16
N_TRAIN, N_QUERY = 96, 8
EPS = 0.3
# Small settings so a check takes seconds whatever the plugin's paper-sized defaults are.
FAST_PARAMS = {"epochs": 1, "batch_size": 32, "steps": 3, "proto_steps": 5, "queries": 20}


@dataclass(frozen=True)
class Check:
    rule: str
    passed: bool
    detail: str
    fix: str = ""


def _fast(cls, extra: dict | None = None) -> dict:
    fields = {f.name for f in dataclasses.fields(cls.Params)}
    return {k: v for k, v in {**FAST_PARAMS, **(extra or {})}.items() if k in fields}


def _metadata(cls, kind: str) -> list[Check]:
    out = []
    name_ok = isinstance(getattr(cls, "name", None), str) and cls.name.isidentifier()
    out.append(Check("metadata: name", name_ok, f"name = {getattr(cls, 'name', None)!r}",
                     "set a class attribute name = 'lower_case_identifier'"))
    version = getattr(cls, "version", None)
    out.append(Check("metadata: version", isinstance(version, int) and version >= 1,
                     f"version = {version!r}", "set version = 1 (raise it when results change)"))
    cit = getattr(cls, "citation", None)
    out.append(Check("metadata: citation", bool(cit and cit.title and cit.url),
                     f"{cit.title} <{cit.url}>" if cit else "no citation",
                     "set citation = Citation(key=..., title=..., url=...)"))
    doc = (cls.__doc__ or "").strip()
    out.append(Check("metadata: docstring", bool(doc), doc.splitlines()[0] if doc else "empty",
                     "give the class a docstring: summary, paper, threat model, needs, defaults"))
    if kind == "attack":
        has_eps = "eps" in {f.name for f in dataclasses.fields(cls.Params)}
        out.append(Check("metadata: eps parameter", has_eps,
                         "Params has eps" if has_eps else "Params has no eps field",
                         "add eps: float to Params (the harness sets it from the protocol)"))
    return out


def _attempt(rule: str, fn: Callable[[], Any]) -> tuple[Any, Check | None]:
    try:
        return fn(), None
    except Exception as err:  # noqa: BLE001 - any failure of the plugin is the finding
        where = traceback.extract_tb(err.__traceback__)[-1]
        return None, Check(rule, False, f"{type(err).__name__}: {err} "
                           f"({where.filename}:{where.lineno})",
                           "make the method run on the smoke data; see the error above")


def _rng_check(before: dict) -> Check:
    """The rule the harness enforces on every cell: the global generators are left alone."""
    touched = touched_global_rngs(before)
    restore_global_rngs(before)
    return Check("global RNG untouched", not touched,
                 "untouched" if not touched else f"drew from or reseeded {', '.join(touched)}",
                 "draw from ctx.rng(purpose) (torch.rand(..., generator=g)); never call "
                 "torch.manual_seed, np.random.* or random.* (the run fails such a cell)")


def _data():
    data = load_dataset("mnist")
    train = data.train.subset(torch.arange(N_TRAIN))
    return data, train


def _model(n_classes: int) -> HashModel:
    return HashModel(ModelSpec("dpsh", "small_cnn", BITS, 1, n_classes), seed=0)


def fitted(checks: list[Check], fit, params: dict, kind: type, what: str, finite_fix: str):
    """The rules every defense's ``fit(0)`` answers, appended to ``checks``: it runs, leaves
    the global RNG alone, returns the model it was given (a ``kind`` of BITS bits) with finite
    weights. Returns that model, or None where a rule failed that the others cannot pass."""
    rng_before = global_rng_state()
    model, failed = _attempt("fit runs", lambda: fit(0))
    if failed:
        checks.append(failed)
        return None
    checks += [Check("fit runs", True, f"params {params}"), _rng_check(rng_before)]
    is_model = isinstance(model, kind) and getattr(model, "bits", None) == BITS
    checks.append(Check(f"returns the {what}", is_model, f"got {type(model).__name__}",
                        "return the model passed to fit (trained), e.g. return ctx.fit(...)"))
    if not is_model:
        return None
    finite = all(torch.isfinite(p).all() for p in model.parameters())
    checks.append(Check("finite weights", finite, "all finite" if finite else "NaN or inf",
                        finite_fix))
    return model


def check_defense(cls, params: dict | None = None) -> list[Check]:
    """Every contract rule for a defense class, on 96 MNIST train images and a 16-bit model."""
    checks = _metadata(cls, "defense")
    data, train = _data()
    params = _fast(cls, params)
    images_before = train.images(torch.arange(N_TRAIN)).clone()

    def fit(seed: int):
        model = _model(data.n_classes)
        ctx = TrainContext(
            seed=seed, scope="selfcheck", eps=EPS, train_labels=train.labels,
            database_labels=data.database.labels,
            make_hash_loss=lambda: make_loss("dpsh", train.labels, BITS, generator(seed, "loss")),
            attack=attack_registry.create,
        )
        return cls(**params).fit(model, train, ctx)

    model = fitted(checks, fit, params, HashModel, "hashing model",
                   "lower the learning rate or fix the loss (no division by zero)")
    if model is None:
        return checks
    with torch.no_grad():
        codes = model.eval().encode(data.query.images(torch.arange(N_QUERY)))
    binary = codes.shape == (N_QUERY, BITS) and set(codes.unique().tolist()) <= {-1.0, 1.0}
    checks.append(Check("codes in {-1,+1} with K bits", binary, f"shape {tuple(codes.shape)}",
                        "keep the model's tanh output; do not change the hash layer"))
    again, failed = _attempt("deterministic under a seed", lambda: fit(0))
    if failed:
        return checks + [failed]
    same = all(torch.equal(a, b) for a, b in
               zip(model.state_dict().values(), again.state_dict().values()))
    checks.append(Check("deterministic under a seed", same,
                        "identical weights" if same else "two fits with seed 0 differ",
                        "draw randomness from ctx.rng(purpose), never the global RNG"))
    untouched = torch.equal(train.images(torch.arange(N_TRAIN)), images_before)
    checks.append(Check("data left untouched", untouched, "train images unchanged"
                        if untouched else "train images were modified in place",
                        "perturb copies of batch.x, never the tensors the harness gives"))
    return checks


class _AttackBench:
    """An attack class run on 8 MNIST queries against a 16-bit model, as the harness runs it:
    the data its ``needs`` declare, a source model for transfers, an oracle for ranking-only
    attacks (never the model)."""

    def __init__(self, cls, params: dict):
        self.cls, self.params = cls, params
        data, self.train = _data()
        self.data, self.model = data, _model(data.n_classes)
        self.source = HashModel(self.model.spec, seed=1).eval()
        with torch.no_grad():
            self.bank = self.model.eval().encode(self.train.images(torch.arange(N_TRAIN)))
            # the protocol's targets are drawn against the whole database: anchors need it all
            self.db_codes = self.model.encode(data.database.images(torch.arange(len(data.database))))
        self.x = data.query.images(torch.arange(N_QUERY))

    def perturb(self, eps: float, seed: int = 0, train_mode: bool = False) -> torch.Tensor:
        cls, data, model = self.cls, self.data, self.model
        attack = cls(**{**self.params, "eps": eps})
        model.train(train_mode)
        provided = {Need.TRAIN_CODES.value: self.bank, Need.TRAIN_LABELS.value: self.train.labels,
                    Need.DATABASE_CODES.value: self.db_codes,
                    Need.DATABASE_LABELS.value: data.database.labels}
        # a transfer attack's source (and surrogate): another model of the same configuration
        other = SourceModel(self.source, "selfcheck-source", dict(provided))
        provided[Need.SOURCE_MODEL.value] = other
        provided[Need.SURROGATE_MODEL.value] = lambda backbone, method: other
        provided[Need.TRAIN_IMAGES.value] = self.train
        ctx = AttackContext.for_attack(cls, seed, "selfcheck", make_attack=attack_registry.create,
                                       **provided)
        batch = QueryBatch(index=torch.arange(N_QUERY),
                           labels=data.query.labels[:N_QUERY] if Need.QUERY_LABELS in cls.needs
                           else None,
                           target_labels=data.target_labels[:N_QUERY]
                           if Need.TARGET_LABELS in cls.needs else None)
        if cls.access == "ranking" or cls.blackbox:  # the ranked ids, never the model
            oracle = RankingOracle(ranked_ids(model, self.db_codes), N_QUERY, len(self.db_codes),
                                   int(getattr(attack.params, "queries", 0) or 0),
                                   f"attack {cls.name}")
            if cls.access == "ranking":  # as the harness runs it: in a sandbox process
                with RankingSandbox(attack, seed, "selfcheck", None, "index") as box:
                    return box.perturb(oracle, self.x.clone(), batch)
            return attack.perturb(oracle, self.x.clone(), batch, attack.prepare(None, ctx), ctx)
        return attack.perturb(model, self.x.clone(), batch, attack.prepare(model, ctx), ctx)


def check_attack(cls, params: dict | None = None) -> list[Check]:
    """Every contract rule for an attack class, on 8 MNIST queries and a 16-bit model."""
    checks = _metadata(cls, "attack")
    if not checks[-1].passed:  # no eps: nothing else can be checked
        return checks
    why = access_violation(cls)
    checks.append(Check("needs fit its access", why is None, "ok" if why is None else
                        f"it {why}", "declare only what the attack's access allows (a "
                        "ranking-only attack: query labels or target labels)"))
    if why is not None:
        return checks
    params = _fast(cls, params)
    bench = _AttackBench(cls, params)
    model, x, perturb = bench.model, bench.x, bench.perturb
    weights = copy.deepcopy(model.state_dict())
    rng_before = global_rng_state()
    adv, failed = _attempt("perturb runs", lambda: perturb(EPS))
    if failed:
        return checks + [failed]
    checks.append(Check("perturb runs", True, f"params {params}"))
    checks.append(_rng_check(rng_before))
    shape_ok = isinstance(adv, torch.Tensor) and adv.shape == x.shape and adv.dtype == x.dtype
    checks.append(Check("same shape and dtype", shape_ok,
                        f"{tuple(adv.shape)} {adv.dtype}" if isinstance(adv, torch.Tensor)
                        else type(adv).__name__, "return a tensor shaped like x"))
    if not shape_ok:
        return checks
    try:
        linf = check_adversarial(x, adv, EPS, f"attack {cls.name}")
        checks.append(Check("in [0,1] and within eps", True, f"l-inf {linf:.4f} <= {EPS}"))
    except HashbenchError as err:
        checks.append(Check("in [0,1] and within eps", False, str(err),
                            "project with hashbench.kit.optim.project (clamp to the ball and [0,1])"))
    zero, failed = _attempt("eps=0 moves nothing", lambda: perturb(0.0))
    if failed:
        return checks + [failed]
    still = float((zero - x).abs().max()) if zero.shape == x.shape else float("inf")
    checks.append(Check("eps=0 moves nothing", still == 0.0, f"max change {still:.3g}",
                        "scale every step by eps and project onto the eps-ball"))
    again = perturb(EPS)
    same = torch.equal(adv, again)
    checks.append(Check("deterministic under a seed", same, "identical batches" if same else
                        "two runs with seed 0 differ",
                        "draw random starts from ctx.rng(purpose), never the global RNG"))
    kept = all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    checks.append(Check("model weights untouched", kept, "unchanged" if kept else
                        "the attack changed the model's weights or buffers",
                        "never step an optimiser on the model; use torch.autograd.grad on x"))
    perturb(EPS, train_mode=True)
    restored = model.training
    perturb(EPS, train_mode=False)
    restored = restored and not model.training
    checks.append(Check("train/eval mode restored", restored, "restored" if restored else
                        "the model's mode changed", "wrap the loop in hashbench.kit.optim.eval_mode"))
    return checks


def check_image_method(cls, params: dict | None = None) -> list[Check]:
    """Every contract rule for an image hashing method: its loss on minibatches of 32 of the 96
    MNIST train images through a 16-bit model."""
    checks = _metadata(cls, "method")
    _, train = _data()

    def steps(seed: int, n: int):
        model = _model(train.labels.shape[1]).train()
        loss = cls(**(params or {})).loss(train.labels, BITS, generator(seed, "selfcheck"))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        values, idx = [], torch.arange(32)
        for step in range(n):
            u = model(train.images(idx), alpha=loss.train_alpha(step))
            value = loss(u, train.labels[idx], idx)
            values.append(value.detach())
            opt.zero_grad()
            value.backward()
            if step == 0:
                grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
            opt.step()
        return values, grads

    before = global_rng_state()
    out, failed = _attempt("loss runs", lambda: steps(0, 20))
    if failed:
        return checks + [failed]
    checks += [Check("loss runs", True, "20 steps on one minibatch of 32"), _rng_check(before)]
    values, grads = out
    finite = all(v.ndim == 0 and bool(torch.isfinite(v)) for v in values)
    checks.append(Check("a finite scalar loss", finite, f"{float(values[0]):.4g} at step 0",
                        "return the minibatch's loss as a 0-dim tensor"))
    flowing = any(bool(g.abs().sum() > 0) for g in grads)
    checks.append(Check("gradient reaches the model", flowing, "non-zero gradient" if flowing
                        else "no parameter gets a gradient", "compute the loss from u"))
    learns = finite and float(values[-1]) < float(values[0])
    checks.append(Check("the loss falls when trained", learns,
                        f"{float(values[0]):.4g} -> {float(values[-1]):.4g} in 20 Adam steps",
                        "check the loss's sign and that it is minimised by matching codes"))
    again, _ = steps(0, 2)
    same = torch.equal(values[1], again[1])
    checks.append(Check("deterministic under a seed", same, "identical" if same else
                        "two runs with seed 0 differ", "draw from the generator loss() gets"))
    return checks
