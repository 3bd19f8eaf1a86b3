"""Image-text hashing models: an image network and a text network that share one Hamming space.

The image side is the single-modal ``HashModel`` itself, so every image attack (first- or
third-party) runs on ``model.image`` unchanged. The text side maps a bag-of-words tag vector to
``tanh(alpha * z)`` with the same number of bits (DCMH's text network: a fully connected hidden
layer on the tag vector).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from hashbench.kit.seeding import derive_seed
from hashbench.metrics import binarize
from hashbench.models.hash_model import HashModel, ModelSpec

MODALITIES = ("image", "text")


@dataclass(frozen=True)
class CrossModalSpec:
    """Everything that determines an image-text model's architecture."""

    method: str
    backbone: str
    bits: int
    in_channels: int
    n_classes: int
    text_dim: int
    text_hidden: int = 512
    weights: str | None = None

    @property
    def image_spec(self) -> ModelSpec:
        return ModelSpec(method=self.method, backbone=self.backbone, bits=self.bits,
                         in_channels=self.in_channels, n_classes=self.n_classes,
                         weights=self.weights)

    def to_dict(self) -> dict:
        return {"kind": "image-text", **asdict(self)}


class TextHashNet(nn.Module):
    """Tag vector -> hidden layer (batch norm, ReLU) -> K bits, tanh(alpha * z).

    DCMH uses a 8,192-unit hidden layer for 1,386 MIRFLICKR tags; ``hidden`` is a spec field so
    literature suites can set it, and the embedded 40-tag data need far less.
    """

    def __init__(self, text_dim: int, hidden: int, bits: int):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(text_dim, hidden), nn.BatchNorm1d(hidden),
                                      nn.ReLU())
        self.hash_layer = nn.Linear(hidden, bits)
        self.out_features = hidden
        first: nn.Linear = self.features[0]  # type: ignore[assignment]
        nn.init.kaiming_normal_(first.weight, nonlinearity="relu")
        nn.init.zeros_(first.bias)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        return self.features(t)

    def forward(self, t: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return torch.tanh(alpha * self.hash_layer(self.embed(t)))

    @torch.no_grad()
    def encode(self, t: torch.Tensor) -> torch.Tensor:
        return binarize(self(t))


class CrossModalHashModel(nn.Module):
    """``image``: a ``HashModel`` on [0,1] images; ``text``: a ``TextHashNet`` on tag vectors.

    Calling the model itself runs the image side, so code written for image models (the attack
    engine, the train loop's device lookup) works on it as it is.
    """

    def __init__(self, spec: CrossModalSpec, seed: int = 0, pretrained: bool = True):
        super().__init__()
        self.spec = spec
        self.image = HashModel(spec.image_spec, seed=seed, pretrained=pretrained)
        with torch.random.fork_rng(devices=[]):  # deterministic in the seed, global RNG untouched
            torch.manual_seed(derive_seed(seed, "text-init", spec.to_dict()))
            self.text = TextHashNet(spec.text_dim, spec.text_hidden, spec.bits)

    @property
    def bits(self) -> int:
        return self.spec.bits

    def net(self, modality: str) -> nn.Module:
        if modality not in MODALITIES:
            raise ValueError(f"modality {modality!r} is not one of {MODALITIES}")
        return self.image if modality == "image" else self.text

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return self.image(x, alpha)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.image.encode(x)


def build_model(spec_dict: dict, seed: int = 0, pretrained: bool = True) -> nn.Module:
    """A model from the spec stored in a checkpoint (image-only or image-text)."""
    spec_dict = dict(spec_dict)
    if spec_dict.pop("kind", None) == "image-text":
        return CrossModalHashModel(CrossModalSpec(**spec_dict), seed, pretrained)
    return HashModel(ModelSpec(**spec_dict), seed, pretrained)
