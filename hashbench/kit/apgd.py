"""Auto-PGD: projected sign descent whose step size adapts to progress (no step size to tune).

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020, Algorithm 1, written for minimisation:

* the step starts at 2 eps and halves at checkpoints w_j = ceil(p_j N), p_0 = 0, p_1 = 0.22,
  p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), when since the last checkpoint fewer than
  rho = 0.75 of the steps lowered the loss, or the step was not halved at the last checkpoint
  and the best loss has not moved; a halving restarts the query from its best point;
* each step is a momentum step: z = P(x_k - eta sign g), x_{k+1} = P(x_k + a (z - x_k) +
  (1 - a)(x_k - x_{k-1})) with a = 0.75 (a = 1 for the first step);
* the start is x + eps * u / max|u|, u uniform in [-1, 1] (AutoAttack's random start).

The loss drives the schedule; ``on_iterate`` sees every evaluated iterate with its outputs, so
the caller can keep, per query, the iterate that is best on the real objective.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from hashbench.kit.optim import eval_mode, project

RHO = 0.75
MOMENTUM = 0.75


def checkpoints(steps: int) -> list[int]:
    """The iterations at which the step size may halve (Croce & Hein 2020, section 3.2)."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = sorted({math.ceil(q * steps) for q in p[1:] if math.ceil(q * steps) < steps})
    return [m for m in marks if m > 0]


def apgd(model: torch.nn.Module, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor],
         eps: float, steps: int, generator: torch.Generator,
         on_iterate: Callable[[torch.Tensor, torch.Tensor], None], alpha: float = 1.0) -> None:
    """Minimise the per-sample ``loss_fn(model(x', alpha))`` over the eps-ball of ``x`` in [0,1]
    with ``steps`` gradient evaluations, calling ``on_iterate(x', out)`` for each."""
    if steps <= 0 or eps <= 0 or x.shape[0] == 0:
        return
    x = x.detach()
    shape = (-1, *[1] * (x.ndim - 1))
    u = torch.rand(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype) * 2 - 1
    u = u / u.flatten(1).abs().amax(1).clamp(min=1e-12).view(shape)
    x_cur = project(x + eps * u, x, eps)
    eta = torch.full((x.shape[0],), 2.0 * eps, device=x.device, dtype=x.dtype)
    marks = set(checkpoints(steps))

    def evaluate(xa):
        xa = xa.detach().requires_grad_(True)
        out = model(xa, alpha=alpha)
        loss = loss_fn(out)
        (grad,) = torch.autograd.grad(loss.sum(), xa)
        on_iterate(xa.detach(), out.detach())
        return loss.detach(), grad.detach()

    with eval_mode(model), torch.autocast(x.device.type, enabled=False):
        loss, grad = evaluate(x_cur)
        best_loss, best_x, best_grad = loss.clone(), x_cur.clone(), grad.clone()
        x_prev = x_cur.clone()
        last_mark, lowered = 0, torch.zeros_like(loss)
        mark_best = best_loss.clone()
        halved_last = torch.ones_like(loss, dtype=torch.bool)  # nothing to compare at w_0
        for k in range(1, steps):
            with torch.no_grad():
                z = project(x_cur - eta.view(shape) * grad.sign(), x, eps)
                a = 1.0 if k == 1 else MOMENTUM
                x_next = project(x_cur + a * (z - x_cur) + (1 - a) * (x_cur - x_prev), x, eps)
            x_prev, x_cur = x_cur, x_next
            new_loss, grad = evaluate(x_cur)
            with torch.no_grad():
                lowered += (new_loss < loss).to(lowered.dtype)
                loss = new_loss
                improved = loss < best_loss
                best_loss = torch.where(improved, loss, best_loss)
                best_x[improved] = x_cur[improved]
                best_grad[improved] = grad[improved]
                if k in marks:
                    few = lowered < RHO * (k - last_mark)
                    stalled = (~halved_last) & (best_loss >= mark_best)
                    halve = few | stalled
                    eta = torch.where(halve, eta / 2, eta)
                    # restart a halved query from its best point (and its gradient)
                    x_cur = torch.where(halve.view(shape), best_x, x_cur)
                    x_prev = torch.where(halve.view(shape), best_x, x_prev)
                    grad = torch.where(halve.view(shape), best_grad, grad)
                    loss = torch.where(halve, best_loss, loss)
                    halved_last, mark_best, last_mark = halve, best_loss.clone(), k
                    lowered = torch.zeros_like(lowered)
