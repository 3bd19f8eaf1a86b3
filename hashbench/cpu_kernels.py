"""The CPU kernels torch runs, pinned for the run entry points.

torch picks its CPU kernels per machine (AVX2, AVX-512...) in three places, ATen's own kernels,
oneDNN's convolutions and MKL's matrix products, and a different kernel rounds differently:
training is chaotic enough that a defense's clean mAP moved by 0.08 between two x86 machines.
Capping ATen and oneDNN at AVX2 (which every x86-64 CPU of the last decade has) reproduced the
published standard records bit for bit on another AVX-512 machine; a machine without AVX-512
still trained other weights, because MKL, left alone, runs its AVX-512 path where it can. MKL's
conditional numerical reproducibility (``MKL_CBWR=AVX2``) runs its AVX2 path on every CPU that
has AVX2, Intel's or not, once it takes the CPU for Intel's: on others (an AMD EPYC, say) it
ignores the variable, keeps a path of its own (it reports branch 2, "auto") and trained other
weights than every golden pin. Its vendor test is one exported function of libtorch_cpu,
``mkl_serv_intel_cpu_true``; ``pin`` rewrites it to answer yes before MKL's first call, and MKL
then runs the AVX2 path there too: the golden pins, made on an Intel Xeon, trained bit for bit on
the AMD EPYC with it. Where the rewrite cannot be made, ``mismatch`` says MKL is not pinned.

ATen and oneDNN read theirs when torch starts, MKL at its first call, so ``pin`` must run before
torch is imported: the CLI does it first thing, a pool worker on its start, a Ray worker by Ray's
setup hook. Importing hashbench changes nothing (a library must not change the process it is
imported into); a script that imported torch first runs whatever kernels torch chose, and
``mismatch`` says so: the CLI refuses to run then, ``hashbench.benchmark`` records it and the
board flags the rows.
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
    """Set the pinning variables (a value already in the environment wins) and, on a CPU that
    MKL does not take for Intel's, let MKL honour them; True when torch is not imported yet, so
    that they take effect."""
    for key, value in PINNED.items():
        os.environ.setdefault(key, value)
    if "torch" in sys.modules:
        return False  # MKL may have run: its path is fixed for this process
    # only with AVX2: MKL, taking the CPU for Intel's, must not be sent to a path it lacks
    if _x86() and _cpuinfo("vendor_id") not in ("GenuineIntel", None) and \
            "avx2" in (_cpuinfo("flags") or "").split():
        _answer_intel(_libtorch_cpu())
    return True


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def _cpuinfo(field: str) -> str | None:
    """The first CPU's ``field`` in /proc/cpuinfo (None off Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _libtorch_cpu(torch_dir: str | None = None) -> str | None:
    """Where torch's libtorch_cpu lies, found without importing torch."""
    import glob
    import importlib.util

    if torch_dir is None:
        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.submodule_search_locations:
            return None
        torch_dir = list(spec.submodule_search_locations)[0]
    libs = glob.glob(os.path.join(torch_dir, "lib", "libtorch_cpu.*"))
    return libs[0] if libs else None


# x86-64 for "mov eax, 1; ret"
_RETURN_ONE = b"\xb8\x01\x00\x00\x00\xc3"


def _answer_intel(lib_path: str | None) -> bool:
    """Rewrite MKL's vendor test in the loaded libtorch_cpu to return 1 (torch's later import
    finds the library loaded and shares it). False where there is no such function or its
    code page cannot be made writable (a hardened kernel): MKL then keeps its own path."""
    import ctypes

    if lib_path is None or not sys.platform.startswith("linux"):
        return False
    try:
        test = ctypes.CDLL(lib_path).mkl_serv_intel_cpu_true
    except (OSError, AttributeError):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    address = ctypes.cast(test, ctypes.c_void_p).value or 0
    page = os.sysconf("SC_PAGE_SIZE")
    start = address - address % page  # two pages: the six bytes may straddle a boundary
    read, write, execute = 1, 2, 4
    if libc.mprotect(start, 2 * page, read | write | execute) != 0:
        return False
    ctypes.memmove(address, _RETURN_ONE, len(_RETURN_ONE))
    libc.mprotect(start, 2 * page, read | execute)
    return True


@functools.cache
def mkl_path() -> tuple[int, str] | None:
    """The code path torch's MKL runs, as (number, name): the one ``MKL_CBWR`` asked for, else
    the one MKL picks for this CPU. None where torch carries no MKL (ARM, say) or hides it.
    MKL is linked into libtorch_cpu, so this asks it there; asking fixes the path for the
    process, as MKL's first call does, so the answer is asked once (resume checks every record
    it finds against it)."""
    import ctypes

    import torch

    lib_path = _libtorch_cpu(os.path.dirname(torch.__file__))
    if lib_path is None:
        return None
    try:
        lib = ctypes.CDLL(lib_path)
        get, auto = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_get_auto_branch
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes, auto.restype = ctypes.c_int, [ctypes.c_int], ctypes.c_int
    branch = get(1) & 0xFFFF  # MKL_CBWR_BRANCH, without the STRICT bit
    number = branch if branch > 2 else auto() & 0xFFFF
    return number, MKL_BRANCHES.get(number, f"branch {number}")


def mismatch() -> str | None:
    """Why this process's torch does not run the pinned kernels (None when it does, or on a CPU
    the pin does not concern)."""
    import torch

    if not _x86():
        return None  # the pin is about x86's vector extensions
    aten = torch.backends.cpu.get_cpu_capability()
    mkl = mkl_path()
    if aten.upper() not in AT_OR_BELOW_PIN:
        what = f"{aten} CPU kernels"
    elif mkl is not None and mkl[0] <= 2:  # no branch: MKL ignored MKL_CBWR
        return (f"torch's MKL runs a path of its own on this {_cpuinfo('vendor_id') or 'CPU'} "
                f"({mkl[1]}), not the protocol's AVX2: MKL honours MKL_CBWR only where it takes "
                "the CPU for Intel's, and hashbench could not rewrite its vendor test before "
                "torch started; run through hashbench's entry point on Linux")
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
