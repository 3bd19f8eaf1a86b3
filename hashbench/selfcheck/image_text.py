"""``hashbench selfcheck`` for the image-text plugins: text attacks, image-text defenses and
image-text hashing methods, on 64 items of the embedded multi-label canvases and their tags.

The rules are the image ones carried to tags: a text attack returns {0,1} tag vectors within its
flip budget, moves nothing at 0 flips, is deterministic, leaves the text network's weights and
mode alone and the global RNGs untouched; an image-text defense returns the image-text model
with K-bit codes from both networks, finite weights, the same weights for the same seed, and
leaves the data and the global RNGs alone; a method's objective is a finite scalar with a
gradient for the model, the same for the same seed.
"""

from __future__ import annotations

import copy

import torch

from hashbench.api import AttackContext, Need, QueryBatch, TrainContext
from hashbench.data import load_dataset
from hashbench.errors import HashbenchError
from hashbench.harness.guards import global_rng_state
from hashbench.harness.threat_model import check_text_adversarial
from hashbench.harness.tracks import no_hash_loss
from hashbench.kit.training import Batch
from hashbench.metrics import binarize
from hashbench.models.crossmodal import CrossModalHashModel, CrossModalSpec
from hashbench.registry import attacks as attack_registry
from hashbench.registry import methods as method_registry
from hashbench.selfcheck.image import Check, _attempt, _fast, _metadata, _rng_check, fitted

BITS, N_TRAIN, N_QUERY, FLIPS = 16, 64, 8, 2


def _data():
    data = load_dataset("mnist_multi")
    return data, data.train.subset(torch.arange(N_TRAIN))


def _model(data, seed: int = 0) -> CrossModalHashModel:
    return CrossModalHashModel(CrossModalSpec("dcmh", "small_cnn", BITS, 1, data.n_classes,
                                              data.text_dim), seed=seed)


def _context(data, train, seed: int, method) -> TrainContext:
    ctx = TrainContext(seed=seed, scope="selfcheck", eps=0.3, train_labels=train.labels,
                       database_labels=train.labels, make_hash_loss=no_hash_loss,
                       attack=attack_registry.create, text_flips=data.text_flips)
    ctx.make_objective = lambda m: method.objective(m, train, ctx)
    return ctx


def _text_metadata(cls) -> list[Check]:
    checks = _metadata(cls, "text attack")
    has_flips = "flips" in cls.Params.__dataclass_fields__
    checks.append(Check("metadata: flips parameter", has_flips,
                        "Params has flips" if has_flips else "Params has no flips field",
                        "add flips: int to Params (the harness sets it from the protocol)"))
    return checks


def check_text_attack(cls, params: dict | None = None) -> list[Check]:
    """Every contract rule for a text attack, on 8 text queries and a 16-bit model."""
    checks = _text_metadata(cls)
    if not checks[-1].passed:  # no flips: nothing else can be checked
        return checks
    data, train = _data()
    model = _model(data)
    with torch.no_grad():
        codes = binarize(model.eval().image(train.images(torch.arange(N_TRAIN))))
    texts = train.texts[:N_QUERY]
    params = _fast(cls, params)
    extra = {"n_t": 1} if "n_t" in cls.Params.__dataclass_fields__ else {}

    def perturb(flips: int, train_mode: bool = False):
        attack = cls(**{**extra, **params, "flips": flips})
        model.text.train(train_mode)
        provided = {Need.TRAIN_CODES.value: codes, Need.TRAIN_LABELS.value: train.labels,
                    Need.DATABASE_CODES.value: codes, Need.DATABASE_LABELS.value: train.labels}
        ctx = AttackContext.for_attack(cls, 0, "selfcheck", make_attack=attack_registry.create,
                                       **provided)
        batch = QueryBatch(index=torch.arange(N_QUERY), labels=train.labels[:N_QUERY],
                           target_labels=train.labels[N_QUERY:2 * N_QUERY])
        return attack.perturb(model.text, texts.clone(), batch,
                              attack.prepare(model.text, ctx), ctx)

    weights = copy.deepcopy(model.text.state_dict())
    before = global_rng_state()
    adv, failed = _attempt("perturb runs", lambda: perturb(FLIPS))
    if failed:
        return checks + [failed]
    checks += [Check("perturb runs", True, f"params {params}"), _rng_check(before)]
    try:
        changed = check_text_adversarial(texts, adv, FLIPS, f"attack {cls.name}")
        checks.append(Check("tags in {0,1} and within the flip budget", True,
                            f"at most {changed} of {texts.shape[1]} tags flipped <= {FLIPS}"))
    except HashbenchError as err:
        checks.append(Check("tags in {0,1} and within the flip budget", False, str(err),
                            "flip at most params.flips entries of each 0/1 tag vector"))
        return checks
    still = perturb(0)
    checks.append(Check("0 flips move nothing", torch.equal(still, texts),
                        "unchanged" if torch.equal(still, texts) else "tags changed",
                        "stop before the first flip when params.flips is 0"))
    same = torch.equal(adv, perturb(FLIPS))
    checks.append(Check("deterministic under a seed", same, "identical" if same else
                        "two runs with seed 0 differ", "draw from ctx.rng(purpose)"))
    kept = all(torch.equal(weights[k], v) for k, v in model.text.state_dict().items())
    checks.append(Check("model weights untouched", kept, "unchanged" if kept else
                        "the attack changed the text network's weights or buffers",
                        "never step an optimiser on the model"))
    perturb(FLIPS, train_mode=True)
    restored = model.text.training
    perturb(FLIPS)
    restored = restored and not model.text.training
    checks.append(Check("train/eval mode restored", restored, "restored" if restored else
                        "the network's mode changed", "wrap the search in hashbench.kit.optim.eval_mode"))
    return checks


def check_image_text_defense(cls, params: dict | None = None) -> list[Check]:
    """Every contract rule for an image-text defense, on 64 canvases with their tags."""
    checks = _metadata(cls, "defense")
    data, train = _data()
    params = _fast(cls, params)
    if "steps" in cls.Params.__dataclass_fields__:
        params["steps"] = 2
    images_before, texts_before = train.images(torch.arange(N_TRAIN)).clone(), train.texts.clone()

    def fit(seed: int):
        return cls(**params).fit(_model(data, seed), train,
                                 _context(data, train, seed, method_registry.create("dcmh")))

    model = fitted(checks, fit, params, CrossModalHashModel, "image-text model",
                   "lower the learning rate or fix the loss")
    if model is None:
        return checks
    model.eval()
    with torch.no_grad():
        codes = [model.image.encode(train.images(torch.arange(N_QUERY))),
                 model.text.encode(train.texts[:N_QUERY])]
    binary = all(c.shape == (N_QUERY, BITS) and set(c.unique().tolist()) <= {-1.0, 1.0}
                 for c in codes)
    checks.append(Check("codes in {-1,+1} with K bits, both networks", binary,
                        f"shapes {[tuple(c.shape) for c in codes]}",
                        "keep both networks' tanh outputs; do not change the hash layers"))
    again, failed = _attempt("deterministic under a seed", lambda: fit(0))
    if failed:
        return checks + [failed]
    same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values()))
    checks.append(Check("deterministic under a seed", same, "identical weights" if same else
                        "two fits with seed 0 differ", "draw from ctx.rng(purpose)"))
    untouched = torch.equal(train.images(torch.arange(N_TRAIN)), images_before) and \
        torch.equal(train.texts, texts_before)
    checks.append(Check("data left untouched", untouched, "images and tags unchanged"
                        if untouched else "the train split was modified in place",
                        "perturb copies of batch.x / batch.text"))
    return checks


def check_method(cls, params: dict | None = None) -> list[Check]:
    """Every contract rule for an image-text hashing method: its objective on one minibatch."""
    checks = _metadata(cls, "method")
    data, train = _data()

    def loss(seed: int):
        model = _model(data, seed).train()
        objective = cls(**(params or {})).objective(model, train,
                                                    _context(data, train, seed, None))
        idx = torch.arange(32)
        batch = Batch(x=train.images(idx), y=train.labels[idx], idx=idx, text=train.texts[idx])
        value = objective(model, batch, 0)
        grads = torch.autograd.grad(value, [p for p in model.parameters() if p.requires_grad],
                                    allow_unused=True)
        return value, grads

    before = global_rng_state()
    out, failed = _attempt("objective runs", lambda: loss(0))
    if failed:
        return checks + [failed]
    checks += [Check("objective runs", True, "one minibatch of 32"), _rng_check(before)]
    value, grads = out
    scalar = isinstance(value, torch.Tensor) and value.ndim == 0 and bool(torch.isfinite(value))
    checks.append(Check("a finite scalar loss", scalar, f"{value!r}"[:60],
                        "return the minibatch's loss as a 0-dim tensor"))
    flowing = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
    checks.append(Check("gradient reaches the model", flowing, "non-zero gradient" if flowing
                        else "no parameter gets a gradient", "compute the loss from model(...)"))
    again, _ = loss(0)
    same = isinstance(value, torch.Tensor) and torch.equal(value, again)
    checks.append(Check("deterministic under a seed", same, "identical" if same else
                        "two evaluations with seed 0 differ", "draw from ctx.rng(purpose)"))
    return checks
