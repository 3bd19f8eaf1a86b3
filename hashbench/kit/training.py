"""The one training loop (vanilla hashing and every defense) and batch encoding of splits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from hashbench.data.splits import Split
from hashbench.errors import HashbenchError
from hashbench.kit.optim import eval_mode
from hashbench.kit.seeding import derive_seed, generator
from hashbench.progress import NULL_PROGRESS, Progress


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule. Defaults: CgAT's vanilla recipe (SGD 0.01, momentum 0.9,
    wd 5e-4, lr x0.1 at 1/3 and 2/3 of the steps); suites set the epochs and batch size."""

    epochs: int = 100
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    milestones: tuple[float, ...] = (1 / 3, 2 / 3)
    gamma: float = 0.1

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise HashbenchError(f"train optimizer '{self.optimizer}' is not one of sgd, adam")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise HashbenchError("train epochs must be >= 0, batch_size >= 1 and lr > 0")


@dataclass
class Batch:
    """A minibatch: images in [0,1], labels (B, C), indices into the split and, for image-text
    data, the paired tag vectors (B, T)."""

    x: torch.Tensor
    y: torch.Tensor
    idx: torch.Tensor
    info: dict = field(default_factory=dict)
    text: torch.Tensor | None = None


StepFn = Callable[[Batch, int], torch.Tensor]


def build_optimizer(params, cfg: TrainConfig, total_steps: int):
    """Optimiser and a per-step MultiStep schedule at ``milestones`` fractions of all steps."""
    opt: torch.optim.Optimizer
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
    marks = sorted({max(1, int(m * total_steps)) for m in cfg.milestones})
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=marks, gamma=cfg.gamma)


def iter_batches(split: Split, order: torch.Tensor, batch_size: int, device: torch.device):
    """Yield (x, y, idx) in ``order``: slicing for in-memory data, a DataLoader for files."""
    if split.in_memory:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield split.images(idx).to(device), split.labels[idx].to(device), idx
        return
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(split, order.tolist()), batch_size=batch_size,
        num_workers=min(8, torch.get_num_threads()), pin_memory=device.type == "cuda",
    )
    for x, y, idx in loader:
        yield (x.to(device, non_blocking=True), y.to(device, non_blocking=True), idx)


def amp_dtype(device: torch.device) -> torch.dtype:
    """Mixed-precision dtype: fp16 (with loss scaling) on CUDA, bf16 on the CPU (no scaling
    needed; it is what makes the mixed-precision path testable without a GPU)."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def fit(
    model: torch.nn.Module,
    split: Split,
    step_fn: StepFn,
    cfg: TrainConfig,
    seed: int,
    scope: str,
    params=None,
    progress: Progress = NULL_PROGRESS,
    amp: bool = False,
) -> torch.nn.Module:
    """Train ``model`` in place with ``step_fn(batch, step) -> loss``; returns the model.

    Minibatch order comes from a generator derived from (seed, scope); dropout draws from a forked
    global RNG seeded the same way, so training is deterministic and leaves global state alone.
    ``amp`` runs ``step_fn`` under autocast (see ``amp_dtype``); inner attacks still run in fp32
    because the attack engine turns autocast off.
    """
    device = next(model.parameters()).device
    n = len(split)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    opt, sched = build_optimizer(params or model.parameters(), cfg, cfg.epochs * steps_per_epoch)
    order_gen = generator(seed, scope, "order")
    task = f"train:{scope}"
    progress.start(task, cfg.epochs * steps_per_epoch, f"training {scope}")
    model.train()
    step = 0
    dtype = amp_dtype(device)
    scaler = torch.amp.GradScaler("cuda") if amp and dtype == torch.float16 else None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(derive_seed(seed, scope, "dropout"))
        for epoch in range(cfg.epochs):
            order = torch.randperm(n, generator=order_gen)
            for x, y, idx in iter_batches(split, order, cfg.batch_size, device):
                text = split.texts[idx].to(device) if split.texts is not None else None
                with torch.autocast(device.type, dtype=dtype, enabled=amp):
                    loss = step_fn(Batch(x, y, idx.to(device), text=text), step)
                if not torch.isfinite(loss):
                    raise HashbenchError(
                        f"training {scope} diverged (loss {loss.item()}) at epoch {epoch + 1}, "
                        f"step {step}; lower the learning rate"
                    )
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:  # fp16 gradients underflow without loss scaling
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                sched.step()
                step += 1
                progress.advance(task, loss=float(loss.detach()))
    progress.finish(task)
    model.eval()
    return model


@torch.no_grad()
def encode_split(model: Any, split: Split, batch_size: int = 256) -> torch.Tensor:
    """Binary codes of a whole split, in eval mode (the model's mode is restored)."""
    device = next(model.parameters()).device
    with eval_mode(model):
        codes = [model.encode(x) for x, _, _ in
                 iter_batches(split, torch.arange(len(split)), batch_size, device)]
    return torch.cat(codes) if codes else torch.zeros(0, model.bits, device=device)


@torch.no_grad()
def encode_texts(net: Any, texts: torch.Tensor | None, batch_size: int = 1024) -> torch.Tensor:
    """Binary codes of tag vectors through a text network, in eval mode (mode restored)."""
    if texts is None:
        raise ValueError("this split has no tag vectors to encode")
    device = next(net.parameters()).device
    with eval_mode(net):
        codes = [net.encode(texts[i:i + batch_size].to(device))
                 for i in range(0, texts.shape[0], batch_size)]
    bits = net.bits if hasattr(net, "bits") else net.hash_layer.out_features
    return torch.cat(codes) if codes else torch.zeros(0, bits, device=device)


def encode_queries(model: torch.nn.Module, split: Split, modality: str) -> torch.Tensor:
    """Codes of a split's images (``model`` an image network) or texts (a text network)."""
    if modality == "text":
        return encode_texts(model, split.texts)
    return encode_split(model, split)
