"""Feature extractors. Each maps normalised images to a flat feature vector.

``small_cnn`` is sized for the embedded digit data on a CPU. The torchvision backbones take
ImageNet weights only from a local file (``weights=PATH``); nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hashbench.errors import ConfigError, close_matches

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)



def he_init(net: nn.Sequential) -> None:
    """He-normal weights and zero biases for every convolution and linear layer of ``net``, in
    order (the draws come from torch's generator, seeded by the model's constructor)."""
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

class SmallCNN(nn.Module):
    """Three conv blocks (16, 32, 64 channels) and one hidden layer: about 0.18M parameters.

    The widths are sized for the 2-core CPU: a fwd+bwd pass costs a third of a 32/64/128 net's
    and the digit data lose under one mAP point; the attacks' and defenses' inner loops dominate
    the standard suite's time, so this is what lets it finish in minutes.

    The batch norm on the hidden layer removes the component that all images share; without it a
    pairwise hashing loss trained from scratch drifts to the u = 0 saddle and one code for all.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3),
            nn.Flatten(), nn.Linear(64 * 9, 256), nn.BatchNorm1d(256), nn.ReLU(),
        )
        self.out_features = 256
        # He init keeps the activation scale through the ReLUs; torch's default shrinks it layer
        # by layer until the output hardly depends on the input, and pairwise hashing losses
        # (whose gradient is a mean over the bank) then collapse every image to one code.
        he_init(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallMLP(nn.Module):
    """The image average-pooled to 14x14, then two hidden layers (512, 256): another
    architecture than ``small_cnn`` for the same digit data (cross-architecture transfer
    surrogates). The batch norms play the part they play in ``small_cnn``."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(14), nn.Flatten(),
            nn.Linear(in_channels * 196, 512), nn.BatchNorm1d(512), nn.ReLU(),
            nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(),
        )
        self.out_features = 256
        he_init(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TorchvisionFeatures(nn.Module):
    """A torchvision classifier without its last layer, fed 224x224 RGB."""

    def __init__(self, name: str, weights: str | None):
        super().__init__()
        import torchvision

        model = getattr(torchvision.models, name)(weights=None)
        if weights:
            path = Path(weights)
            if not path.is_file():
                raise ConfigError(f"backbone {name}: weights file {path} not found")
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        if name.startswith("resnet"):
            self.out_features = model.fc.in_features
            model.fc = nn.Identity()
        else:  # alexnet / vgg: keep fc6 and fc7 (with dropout), drop the 1000-way layer
            self.out_features = model.classifier[-1].in_features
            model.classifier = nn.Sequential(*list(model.classifier)[:-1])
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != 224 or x.shape[-2] != 224:
            x = nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        return self.model(x)


BACKBONES = {
    "small_cnn": "3-layer CNN for 28-56 px digit data (CPU)",
    "small_mlp": "2-layer MLP on 14x14-pooled digit data (CPU; transfer surrogates)",
    "alexnet": "torchvision AlexNet, fc7 features (224 px)",
    "vgg11": "torchvision VGG11, fc7 features (224 px)",
    "resnet18": "torchvision ResNet-18, pooled features (224 px)",
    "resnet50": "torchvision ResNet-50, pooled features (224 px)",
}


# the CPU-sized backbones trained from scratch on digit data (no ImageNet statistics or init)
SMALL = ("small_cnn", "small_mlp")


def build_backbone(name: str, in_channels: int, weights: str | None) -> nn.Module:
    if name == "small_cnn":
        return SmallCNN(in_channels)
    if name == "small_mlp":
        return SmallMLP(in_channels)
    if name in BACKBONES:
        return TorchvisionFeatures(name, weights)
    raise ConfigError(f"unknown backbone '{name}'{close_matches(name, BACKBONES)}")


def normalisation(name: str, in_channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std applied inside the model: ImageNet's for torchvision backbones, 0.5 otherwise."""
    if name in SMALL:
        return (0.5,) * in_channels, (0.5,) * in_channels
    return IMAGENET_MEAN, IMAGENET_STD
