"""A model handed in whole (``hashbench.benchmark``), guarded as a plugin is.

hashbench's own models and plugins are checked where the harness calls them (``guards``); a
user's model is called from inside attacks, so its failures would be blamed on the attack that
happened to call it. ``GuardedModel`` checks every call of it and names the model instead.
``hashbench.models`` stays as it is: its source is part of every model cache key.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hashbench.errors import ConfigError, HandedInModelError, HashbenchError, one_line
from hashbench.harness.guards import (
    global_rng_state,
    restore_global_rngs,
    touched_global_rngs,
)
from hashbench.metrics import binarize
from hashbench.models.adapter import PlainHashModel


class GuardedModel(nn.Module):
    """A model handed in whole (``hashbench.benchmark``), guarded at every call as a plugin is:
    an exception, a draw from a global random generator, an in-place change of its own weights
    or buffers, or an output that is not a finite floating (N, K) tensor on the input's device
    (differentiable where the input is) is blamed on the model by ``who``, never on the attack
    that happened to call it."""

    def __init__(self, inner: nn.Module, who: str):
        super().__init__()
        self.inner: Any = inner  # its forward, encode and bits are checked when called
        self.who = who

    @property
    def bits(self) -> int:
        return self.inner.bits

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        if isinstance(self.inner, PlainHashModel):  # check the user's own outputs, before tanh
            raw = self._checked(lambda: self.inner.module(x), x, needs_grad=True)
            return torch.tanh(alpha * raw)  # PlainHashModel.forward, on the checked outputs
        return self._checked(lambda: self.inner(x, alpha), x, needs_grad=True)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.inner, PlainHashModel):  # sign() would turn NaN into codes
            return binarize(self._checked(lambda: self.inner.module(x), x, needs_grad=False))
        return self._checked(lambda: self.inner.encode(x), x, needs_grad=False)

    def _checked(self, call, x: torch.Tensor, needs_grad: bool) -> torch.Tensor:
        rngs, versions = global_rng_state(), _versions(self.inner)
        try:
            out = call()
        except HashbenchError:
            raise
        except Exception as err:  # noqa: BLE001 - the user's model, any failure
            raise HandedInModelError(f"{self.who} raised {one_line(err)} on a batch of "
                                     f"{tuple(x.shape)}") from err
        touched = touched_global_rngs(rngs)
        if touched:
            restore_global_rngs(rngs)
            raise HandedInModelError(f"{self.who} drew from the global random generator "
                                     f"({', '.join(touched)}) when called; a model must be "
                                     "deterministic in eval mode (no dropout, no torch.rand in "
                                     "forward)")
        if _versions(self.inner) != versions:
            raise HandedInModelError(f"{self.who} changed its own weights or buffers when "
                                     "called; a model's forward must not update its state in "
                                     "place")
        check_outputs(out, x, self.bits, self.who)
        if needs_grad and torch.is_grad_enabled() and x.requires_grad and not out.requires_grad:
            raise HandedInModelError(f"{self.who}'s output does not depend differentiably on "
                                     "its input (detached, integer or computed under no_grad); "
                                     "white-box attacks need its gradient")
        return out


def _versions(module: nn.Module) -> tuple[int, ...]:
    """The in-place version counter of every parameter and buffer: it moves when any of them is
    written in place (a cheap check, taken at every call)."""
    return tuple(t._version for t in (*module.parameters(), *module.buffers()))


def check_outputs(out, x: torch.Tensor, bits: int, who: str) -> None:
    """A model's output on ``x``: a finite floating (N, bits) tensor on ``x``'s device."""
    if not isinstance(out, torch.Tensor):
        raise HandedInModelError(f"{who} returned {type(out).__name__}, not a tensor; return "
                                 "the (N, K) real outputs whose signs are the codes")
    if not out.is_floating_point():
        raise HandedInModelError(f"{who} returned {out.dtype} outputs; return real (floating) "
                                 "outputs, whose signs are the codes")
    if tuple(out.shape) != (x.shape[0], bits):
        raise HandedInModelError(f"{who} returned shape {tuple(out.shape)} on {x.shape[0]} "
                                 f"inputs; expected ({x.shape[0]}, {bits})")
    if out.device != x.device:
        raise HandedInModelError(f"{who} returned outputs on {out.device} for inputs on "
                                 f"{x.device}; keep the model on the device it is run on")
    if not torch.isfinite(out).all():
        raise HandedInModelError(f"{who} returned non-finite outputs (NaN or inf); check its "
                                 "weights")


def check_handed_in(module, who: str) -> None:
    """What a handed-in model must be before it is called at all: a module whose parameters
    and buffers hold data (not the meta device's placeholders)."""
    if not isinstance(module, nn.Module):
        raise ConfigError(f"{who} is a {type(module).__name__}, not a torch.nn.Module; wrap "
                          "it in a Module whose forward maps images to (N, K) real outputs")
    meta = [n for n, t in (*module.named_parameters(), *module.named_buffers()) if t.is_meta]
    if meta:
        raise HandedInModelError(f"{who} has tensors on the meta device ({meta[0]}); load its weights "
                          "first (model.to_empty(device='cpu'), then load_state_dict)")


def check_raw_outputs(net: nn.Module, x: torch.Tensor, who: str) -> None:
    """A plain module behind the harness interface (``PlainHashModel``) checked on its own
    outputs: tanh would turn integer outputs into floats without a gradient, and the attack
    that first needs one would take the blame."""
    if not isinstance(net, PlainHashModel):  # hashbench-shaped: its outputs are the guard's
        return
    with torch.no_grad():
        out = net.module(x)
    check_outputs(out, x, net.bits, who)


class ImageTextPair(torch.nn.Module):
    """A user's image network and text network, seen as hashbench's image-text models are:
    ``net("image")`` / ``net("text")``, each a harness model on its own inputs."""

    image: Any  # harness models (forward, encode, bits): torch types sub-modules loosely
    text: Any

    def __init__(self, image: torch.nn.Module, text: torch.nn.Module):
        super().__init__()
        if image.bits != text.bits:
            raise ConfigError(f"the image network gives {image.bits} bits and the text network "
                              f"{text.bits}; both sides must share one Hamming space")
        self.image, self.text = image, text

    @property
    def bits(self) -> int:
        return self.image.bits

    def net(self, modality: str) -> torch.nn.Module:
        return self.image if modality == "image" else self.text

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return self.image(x, alpha)
