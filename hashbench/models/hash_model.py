"""The hashing model: [0,1] images in, ``tanh(alpha * z)`` with K bits out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from hashbench.kit.seeding import derive_seed
from hashbench.metrics import binarize
from hashbench.models.backbones import SMALL, build_backbone, normalisation


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines a model's architecture (recorded in checkpoints and results)."""

    method: str
    backbone: str
    bits: int
    in_channels: int
    n_classes: int
    weights: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class HashModel(nn.Module):
    """Normalisation inside, backbone, a linear hash layer, then tanh(alpha * z).

    ``alpha`` is set per forward call: attacks relax sign() with a schedule of alphas.
    """

    def __init__(self, spec: ModelSpec, seed: int = 0, pretrained: bool = True):
        """``pretrained=False`` skips reading ``spec.weights`` (a checkpoint restores them)."""
        super().__init__()
        self.spec = spec
        mean, std = normalisation(spec.backbone, spec.in_channels)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        # torch's default initialisers draw from the global RNG; fork it so building a model is
        # deterministic in the seed and leaves the caller's global state untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "model-init", spec.to_dict()))
            features: Any = build_backbone(spec.backbone, spec.in_channels,
                                           spec.weights if pretrained else None)
            self.features = features
            self.hash_layer = nn.Linear(features.out_features, spec.bits)
            if spec.backbone not in SMALL:
                # CgAT's init for a hash layer over pretrained fc7 / pooled features. A small
                # CNN trained from scratch keeps torch's default init: at std 0.01 its outputs
                # barely depend on the input and pairwise losses collapse to a single code.
                nn.init.normal_(self.hash_layer.weight, std=0.01)
                nn.init.zeros_(self.hash_layer.bias)
        # Channels-last convolutions are about 1.4x faster here for both the attacks' input
        # gradients and training steps (oneDNN on CPU; tensor cores on CUDA). Layout changes the
        # summation order only: outputs move by ~1e-6, never the codes' meaning.
        self.features.to(memory_format=torch.channels_last)

    @property
    def bits(self) -> int:
        return self.spec.bits

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features of [0,1] images (what the hash layer sees)."""
        mean, std = self.get_buffer("mean"), self.get_buffer("std")
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        return self.features(x)

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return torch.tanh(alpha * self.hash_layer(self.embed(x)))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Binary codes in {-1,+1} (ties to +1); the caller sets the mode (eval for retrieval)."""
        return binarize(self(x))
