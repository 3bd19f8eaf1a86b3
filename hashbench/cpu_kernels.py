"""The CPU kernels torch runs, pinned for the run entry points.

torch picks its CPU kernels per machine (AVX2, AVX-512...) in three places, ATen's own kernels,
oneDNN's convolutions and MKL's matrix products, and a different kernel rounds differently:
training is chaotic enough that a defense's clean mAP moved by 0.08 between two x86 machines.
Capping ATen and oneDNN at AVX2 (which every x86-64 CPU of the last decade has) reproduced the
published standard records bit for bit on another AVX-512 machine; a machine without AVX-512
still trained other weights, because MKL, left alone, runs its AVX-512 path where it can. MKL's
conditional numerical reproducibility (``MKL_CBWR=AVX2``) runs its AVX2 path on every CPU that
has AVX2, Intel's or not.

ATen and oneDNN read theirs when torch starts, MKL at its first call, so ``pin`` must run before
torch is imported: the CLI does it first thing, a Ray run passes the variables to its workers'
environment. Importing hashbench
changes nothing (a library must not change the process it is imported into); a script that
imported torch first runs whatever kernels torch chose, and ``mismatch`` says so: the CLI refuses
to run then, ``hashbench.benchmark`` records it and the board flags the rows.
"""

from __future__ import annotations

import functools
import os
import platform
import sys

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
# ATen levels at or below the pin: what torch reports on a pinned x86 machine, or on one without
# AVX2 (the pin is a cap, not a demand)
AT_OR_BELOW_PIN = ("AVX2", "DEFAULT", "NO AVX", "AVX")
# MKL's code paths by the numbers of its mkl_cbwr.h; 1 and 2 mean "none asked for"
MKL_BRANCHES = {3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2", 9: "AVX",
                10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1",
                14: "AVX512_E1"}
MKL_PIN = 10  # AVX2; lower paths are at or below the pin


def pin() -> bool:
    """Set the pinning variables (a value already in the environment wins); True when torch is
    not imported yet, so that they take effect."""
    for key, value in PINNED.items():
        os.environ.setdefault(key, value)
    return "torch" not in sys.modules


@functools.cache
def mkl_path() -> tuple[int, str] | None:
    """The code path torch's MKL runs, as (number, name): the one ``MKL_CBWR`` asked for, else
    the one MKL picks for this CPU. None where torch carries no MKL (ARM, say) or hides it.
    MKL is linked into libtorch_cpu, so this asks it there; asking fixes the path for the
    process, as MKL's first call does, so the answer is asked once (resume checks every record
    it finds against it)."""
    import ctypes
    import glob

    import torch

    libs = glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.*"))
    try:
        lib = ctypes.CDLL(libs[0])
        get, auto = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_get_auto_branch
    except (IndexError, OSError, AttributeError):
        return None
    get.restype, get.argtypes, auto.restype = ctypes.c_int, [ctypes.c_int], ctypes.c_int
    branch = get(1) & 0xFFFF  # MKL_CBWR_BRANCH, without the STRICT bit
    number = branch if branch > 2 else auto() & 0xFFFF
    return number, MKL_BRANCHES.get(number, f"branch {number}")


def mismatch() -> str | None:
    """Why this process's torch does not run the pinned kernels (None when it does, or on a CPU
    the pin does not concern)."""
    import torch

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None  # the pin is about x86's vector extensions
    aten = torch.backends.cpu.get_cpu_capability()
    mkl = mkl_path()
    if aten.upper() not in AT_OR_BELOW_PIN:
        what = f"{aten} CPU kernels"
    elif mkl is not None and mkl[0] > MKL_PIN:
        what = f"MKL's {mkl[1]} path"
    else:
        return None
    return (f"torch runs {what}, not the protocol's AVX2 (started before "
            "ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2 and MKL_CBWR=AVX2 were set, or "
            "with other values); set them before Python starts, or import hashbench's entry "
            "point first")


def require_pinned() -> None:
    """For the commands that compute records: refuse to run on other kernels than the pinned."""
    from hashbench.errors import HashbenchError

    why = mismatch()
    if why:
        raise HashbenchError(why)
