"""Any ``nn.Module`` that maps images in [0,1] to K real outputs, seen as the harness sees its own
models: ``forward(x, alpha)`` is ``tanh(alpha * out)`` (the relaxation attacks anneal) and
``encode(x)`` is ``sign(out)``, ties to +1. hashbench's own models already have that shape and
are used as they are."""

from __future__ import annotations

import torch
from torch import nn

from hashbench.metrics import binarize


class PlainHashModel(nn.Module):
    """A user's module behind the harness's model interface; its outputs' signs are the codes."""

    def __init__(self, module: nn.Module, bits: int):
        super().__init__()
        self.module = module
        self._bits = int(bits)

    @property
    def bits(self) -> int:
        return self._bits

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return torch.tanh(alpha * self.module(x))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return binarize(self.module(x))


def as_hash_model(module: nn.Module, example: torch.Tensor, inputs: str = "images") -> nn.Module:
    """``module`` as a harness model: itself when it is one already (``encode`` and an ``alpha``
    argument), else wrapped; K is read from its output on ``example`` (a batch of ``inputs``:
    images, or the tag vectors of an image-text model's text side)."""
    from hashbench.errors import ConfigError, HandedInModelError

    if hasattr(module, "encode") and hasattr(module, "bits"):
        return module
    if not isinstance(module, nn.Module):
        raise ConfigError(f"expected a torch.nn.Module, got {type(module).__name__}")
    module.eval()
    with torch.no_grad():
        try:
            out = module(example)
        except Exception as err:  # noqa: BLE001 - the user's module, any failure
            raise ConfigError(f"the model failed on a batch of {inputs} {tuple(example.shape)}"
                              f": {type(err).__name__}: {err}") from err
    if isinstance(out, torch.Tensor) and out.is_meta:
        raise HandedInModelError(f"the model returned outputs on the meta device for "
                                 f"{inputs} {tuple(example.shape)}; load its weights and run it "
                                 "on a real device (cpu or cuda)")
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != example.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"the model must map {inputs} (N, ...) to codes (N, K); on "
                          f"{tuple(example.shape)} it returned {shape}")
    if not torch.isfinite(out).all():
        raise ConfigError(f"the model returned non-finite outputs on clean {inputs}")
    return PlainHashModel(module, out.shape[1]).eval()
