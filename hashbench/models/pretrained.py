"""Pretrained ImageNet weights for the torchvision backbones, read from disk (never downloaded).

The literature fine-tunes ImageNet-pretrained AlexNet / VGG / ResNet (methods.md 2.1); a hashing
model trained from a random torchvision backbone is not the model the papers attack, so a missing
weights file is an error, not a silent fallback. Files live at ``DATA_ROOT/weights/<backbone>.pth``
and hold torchvision's ``IMAGENET1K_V1`` state dict.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from hashbench.errors import DataError

PRETRAINED_BACKBONES = ("alexnet", "vgg11", "resnet18", "resnet50")


def weights_path(backbone: str, data_root: Path | None) -> Path | None:
    """The weights file of ``backbone`` (None for backbones trained from scratch)."""
    if backbone not in PRETRAINED_BACKBONES:
        return None
    hint = (f"save torchvision's {backbone} IMAGENET1K_V1 state dict (torch.save of "
            f"model.state_dict()) as DATA_ROOT/weights/{backbone}.pth")
    if data_root is None:
        raise DataError(f"backbone {backbone}: needs ImageNet weights but no data root is set; "
                        f"pass --data-root DIR or set HASHBENCH_DATA, then {hint}")
    path = Path(data_root) / "weights" / f"{backbone}.pth"
    if not path.is_file():
        raise DataError(f"backbone {backbone}: ImageNet weights not found at {path}; {hint}")
    return path


@lru_cache(maxsize=None)
def file_sha256(path: str) -> str:
    """Content hash of a weights file (part of every model cache key that uses it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
