"""The CUDA path without a GPU: nothing pins a device by hand, so tensors follow the model."""

import re
from pathlib import Path

import pytest

from hashbench.errors import HashbenchError
from hashbench.harness.work import resolve_device

ROOT = Path(__file__).resolve().parents[2]
HARD_CODED = re.compile(r"\.cuda\(|device\s*=\s*['\"]cuda")


def test_no_source_moves_tensors_to_cuda_by_hand():
    offenders = [f"{p.relative_to(ROOT)}:{i}" for folder in ("hashbench", "attacks", "defenses")
                 for p in sorted((ROOT / folder).rglob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if HARD_CODED.search(line)]
    assert offenders == []


def test_asking_for_cuda_where_there_is_none_is_a_one_line_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(HashbenchError, match="CUDA is not available here; use --device cpu"):
        resolve_device("cuda")
