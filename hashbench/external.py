"""External evaluations: which model a file of adversarial queries is scored against, and reading
that file. The checks against the protocol and the scoring are ``Runner.score_external``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from hashbench.errors import ResultError
from hashbench.suites import CLEAN, CellSpec, Suite


def external_cell(suite: Suite, dataset: str, defense: str, model_id: str | None) -> CellSpec:
    """The clean cell (protocol eps) of ``suite`` for this dataset, defense and model; the
    defense may be one the suite does not list (as ``run --add-defense``)."""
    cells = [c for c in suite.with_defenses([defense]).cells()
             if c.attack == CLEAN and c.dataset == dataset and c.defense == defense
             and c.eps is None and (model_id is None or c.model_id == model_id)]
    models = sorted({c.model_id for c in cells})
    if len(models) != 1:
        raise ResultError(
            f"suite {suite.name} has {len(models)} models for dataset {dataset}"
            + (f" ({', '.join(models)}); pick one with --model" if models else
               "; check --dataset and --model against `hashbench list` and the suite file"))
    return cells[0]


def load_queries(path: Path) -> tuple[torch.Tensor, str]:
    """The float tensor in a torch file (read with ``weights_only``) and the file's sha256."""
    try:
        raw = Path(path).read_bytes()
        adv = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one line
        raise ResultError(f"{path}: not a readable torch tensor file ({err})") from err
    if not isinstance(adv, torch.Tensor) or not adv.is_floating_point():
        raise ResultError(f"{path}: expected one float tensor (N, C, H, W), got "
                          f"{type(adv).__name__}")
    return adv, hashlib.sha256(raw).hexdigest()
