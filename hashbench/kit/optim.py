"""The attack engines: projected descent for images, greedy tag flips for texts.

``projected_descent`` minimises a per-sample objective over x' in the l-inf ball of radius eps
around x intersected with [0,1]^d, with one of three update rules:

* ``sign``: delta <- delta - step * sign(grad)                    (PGD; SAAT / CgAT / THA)
* ``l2``:   delta <- delta - step * grad / ||grad||_2              (DHTA's official update)
* ``sgd``:  SGD with momentum on x' itself, lr = step              (HAG's re-implementations)

and a tanh-scale schedule relaxing sign() (methods.md 2.3). The model is put in eval mode for the
attack and its mode restored afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Literal

import torch

Update = Literal["sign", "l2", "sgd"]
Schedule = Literal["constant", "saat10", "dhta"]
SAAT10 = (0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def alpha_at(schedule: Schedule, t: int, steps: int) -> float:
    """tanh scale at iteration ``t`` of ``steps``."""
    if schedule == "constant":
        return 1.0
    if schedule == "saat10":  # ten equal segments (xandery-geek/SAAT model/util.py:get_alpha)
        return SAAT10[min(9, t * 10 // max(steps, 1))]
    if schedule == "dhta":  # 0.1 for the first half, then five equal blocks (DHTA get_factor)
        half = steps // 2
        if t < half:
            return 0.1
        block = max(1, (steps - half) // 5)
        return (0.2, 0.3, 0.5, 0.7, 1.0)[min(4, (t - half) // block)]
    raise ValueError(f"unknown alpha schedule {schedule!r}")


@contextmanager
def eval_mode(model: torch.nn.Module):
    """Put ``model`` in eval mode and restore its previous mode on exit."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Closest point of the eps-ball around x, intersected with [0,1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def random_start(x: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """x + U(-eps, eps), projected; drawn on the CPU so every device gets the same numbers."""
    noise = torch.rand(x.shape, generator=generator, dtype=torch.float32) * 2 - 1
    return project(x + eps * noise.to(x.device, x.dtype), x, eps)


Objective = Callable[[torch.Tensor, int], torch.Tensor]


def projected_descent(
    model: torch.nn.Module,
    x: torch.Tensor,
    objective: Objective,
    eps: float,
    step: float,
    steps: int,
    generator: torch.Generator | None = None,
    schedule: Schedule = "constant",
    update: Update = "sign",
    momentum: float = 0.9,
) -> torch.Tensor:
    """Minimise ``objective(model(x', alpha), t)`` (per-sample losses, summed) over x'.

    A random start is used when ``generator`` is given. Returns x' detached, inside the ball.
    Runs in fp32 even inside a mixed-precision training step: a sign step taken from a
    half-precision gradient is a different (weaker, noisier) attack.
    """
    x = x.detach()
    x_adv = random_start(x, eps, generator) if generator is not None else x.clone()
    velocity = torch.zeros_like(x)  # the sgd update's momentum buffer
    with eval_mode(model), torch.autocast(x.device.type, enabled=False):
        for t in range(steps):
            x_adv.requires_grad_(True)
            out = model(x_adv, alpha=alpha_at(schedule, t, steps))
            (grad,) = torch.autograd.grad(objective(out, t).sum(), x_adv)
            with torch.no_grad():
                if update == "sign":
                    x_adv = x_adv - step * grad.sign()
                elif update == "l2":
                    norm = grad.flatten(1).norm(dim=1).clamp(min=1e-12)
                    x_adv = x_adv - step * grad / norm.view(-1, *[1] * (grad.ndim - 1))
                else:
                    velocity = momentum * velocity + grad
                    x_adv = x_adv - step * velocity
                x_adv = project(x_adv, x, eps)
    return x_adv.detach()


TextObjective = Callable[[torch.Tensor], torch.Tensor]


def greedy_flips(
    net: torch.nn.Module,
    t: torch.Tensor,
    objective: TextObjective,
    flips: int,
    candidates: int = 64,
) -> torch.Tensor:
    """Minimise ``objective(out)`` over tag vectors t' in {0,1}^T that differ from ``t`` in at
    most ``flips`` entries (HotFlip-style greedy coordinate search). ``out`` holds codes of
    shape (n, m, K), m candidate vectors per query, and the objective returns (n, m) losses.

    Each round ranks the unflipped tags by the first-order change of the loss when flipped,
    ``grad_j * (1 - 2 t_j)``, evaluates the ``candidates`` best exactly, and keeps the best flip
    if it lowers the loss (a query that cannot improve stops). A tag is flipped at most once, so
    the number of changed tags never exceeds the rounds taken. With ``candidates`` >= T the
    search is exact greedy.
    """
    t = t.detach()
    cur = t.clone()
    flipped = torch.zeros_like(t, dtype=torch.bool)
    n, dim = t.shape
    m = max(1, min(candidates, dim))
    rows = torch.arange(n, device=t.device)
    with eval_mode(net), torch.autocast(t.device.type, enabled=False):
        for _ in range(flips):
            probe = cur.clone().requires_grad_(True)
            loss = objective(net(probe).unsqueeze(1)).squeeze(1)
            (grad,) = torch.autograd.grad(loss.sum(), probe)
            with torch.no_grad():
                gain = grad * (1 - 2 * cur)  # first-order change of the loss per flip
                gain[flipped] = float("inf")
                cand = gain.topk(m, dim=1, largest=False).indices  # (n, m)
                trial = cur.unsqueeze(1).repeat(1, m, 1)  # (n, m, T)
                pos = trial.gather(2, cand.unsqueeze(2))
                trial.scatter_(2, cand.unsqueeze(2), 1 - pos)
                trial_loss = objective(net(trial.view(n * m, dim)).view(n, m, -1))
                # a candidate that is already flipped (fewer than m open tags) never wins
                trial_loss[gain.gather(1, cand).isinf()] = float("inf")
                best_loss, best = trial_loss.min(1)
                improve = best_loss < loss.detach()
                j = cand[rows, best]
                cur[rows[improve], j[improve]] = 1 - cur[rows[improve], j[improve]]
                flipped[rows[improve], j[improve]] = True
    return cur.detach()
