"""The CPU kernels torch runs, pinned for the run entry points.

torch picks its CPU kernels per machine (AVX2, AVX-512...) in two places, ATen's own kernels and
oneDNN's convolutions, and a different kernel rounds differently: training is chaotic enough that
a defense's clean mAP moved by 0.08 between two x86 machines. Capping both at AVX2 (which every
x86-64 CPU of the last decade has) reproduced the published standard records bit for bit,
checkpoints included, on an AVX-512 machine whose default kernels gave other checkpoints (ATen
alone was not enough there: the convolutions differed).

Both are read once, when torch starts, so ``pin`` must run before torch is imported: the CLI does
it first thing, a Ray run passes the variables to its workers' environment. Importing hashbench
changes nothing (a library must not change the process it is imported into); a script that
imported torch first runs whatever kernels torch chose, and ``mismatch`` says so: the CLI refuses
to run then, ``hashbench.benchmark`` records it and the board flags the rows.
"""

from __future__ import annotations

import os
import platform
import sys

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
# ATen levels at or below the pin: what torch reports on a pinned x86 machine, or on one without
# AVX2 (the pin is a cap, not a demand)
AT_OR_BELOW_PIN = ("AVX2", "DEFAULT", "NO AVX", "AVX")


def pin() -> bool:
    """Set the pinning variables (a value already in the environment wins); True when torch is
    not imported yet, so that they take effect."""
    for key, value in PINNED.items():
        os.environ.setdefault(key, value)
    return "torch" not in sys.modules


def mismatch() -> str | None:
    """Why this process's torch does not run the pinned kernels (None when it does, or on a CPU
    the pin does not concern)."""
    import torch

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None  # the pin is about x86's vector extensions
    aten = torch.backends.cpu.get_cpu_capability()
    if aten.upper() in AT_OR_BELOW_PIN:
        return None
    return (f"torch runs {aten} CPU kernels, not the protocol's AVX2 (started before "
            "ATEN_CPU_CAPABILITY=avx2 and ONEDNN_MAX_CPU_ISA=AVX2 were set, or with other "
            "values); set both before Python starts, or import hashbench's entry point first")


def require_pinned() -> None:
    """For the commands that compute records: refuse to run on other kernels than the pinned."""
    from hashbench.errors import HashbenchError

    why = mismatch()
    if why:
        raise HashbenchError(why)
