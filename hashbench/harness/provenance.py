"""Where and how a number was produced: versions, git state, device, command, times."""

from __future__ import annotations

import hashlib
import inspect
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import torch

from hashbench import MODEL_CODE_VERSION, __version__
from hashbench.locations import PACKAGE_DIR, checkout_root


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(sha, dirty) of the checkout holding hashbench, or (None, None) outside one."""
    here = PACKAGE_DIR

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return sha, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


@lru_cache(maxsize=None)
def source_fingerprint(path: str) -> str:
    """sha256 over the Python sources of a module file or of a package folder (sorted paths)."""
    root = Path(path)
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(root) if root.is_dir() else f.name).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


# The core code whose training numerics ``MODEL_CODE_VERSION`` declares: the plugin contract and
# kit, the metric helpers the kit uses, the models (backbones, losses' memory bank) and the
# batching of a split. Not the CLI, the report,
# the runner or the metric kernels. No key hashes these files; the golden tests fingerprint them
# only to say, when a pinned model's weights move, whether the core or a plugin moved them.
MODEL_CORE = ("api.py", "kit", "metrics/__init__.py", "models", "data/splits.py")


def core_fingerprint() -> str:
    """sha256 over ``MODEL_CORE``'s sources (diagnosis only: no cache key holds it)."""
    return hashlib.sha256(":".join(source_fingerprint(str(PACKAGE_DIR / m))
                                   for m in MODEL_CORE).encode()).hexdigest()


def first_party(klass: type) -> bool:
    """Whether ``klass`` is hashbench's own (the core, or a first-party plugin: those install
    under hashbench's namespace), so that its declared version, held to its golden test, stands
    for its code."""
    return klass.__module__ == "hashbench" or klass.__module__.startswith("hashbench.")


def third_party_sources(*classes: type) -> str | None:
    """sha256 over the source files of the third-party classes among ``classes`` and their
    bases (a plugin subclassing another changes when its base does), or None when every one is
    hashbench's own. A third party's plugin has no golden test here to hold its declared
    version to its numerics, so its models follow its bytes: an edit made without a version
    bump retrains instead of reusing a checkpoint the edited code would not produce."""
    modules = set()
    for cls in classes:
        for klass in cls.__mro__:
            if first_party(klass) or klass.__module__ in ("builtins", "abc", "typing"):
                continue
            try:
                src = inspect.getsourcefile(klass)
            except TypeError:  # a class without a source file
                src = None
            modules.add(str(Path(src).resolve()) if src else f"<{klass.__module__}>")
    if not modules:
        return None
    return hashlib.sha256("".join(source_fingerprint(m) if not m.startswith("<") else m
                                  for m in sorted(modules)).encode()).hexdigest()


def declared_code(*classes: type) -> dict:
    """What a model's cache key holds of the code that trained it: hashbench's declared
    ``MODEL_CODE_VERSION``, the declared ``version`` of each plugin class in ``classes`` (its
    defense, hashing method and inner attacks) and of the plugin classes it extends, and the
    source bytes of third-party ones (``third_party_sources``). Source bytes of hashbench's own
    code never enter it: a docstring, an import or a refactor moves no key, while a change of
    the numbers fails a golden test that names the version to bump (docs/versions.md)."""
    plugins = {}
    for cls in classes:
        for klass in cls.__mro__:
            name = vars(klass).get("name")
            if isinstance(name, str) and hasattr(klass, "version") and hasattr(klass, "kind"):
                plugins[f"{klass.kind}:{name}"] = int(klass.version)
    out = {"model_code": MODEL_CODE_VERSION, "plugins": dict(sorted(plugins.items()))}
    sources = third_party_sources(*classes)
    if sources is not None:
        out["third_party_sources"] = sources
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def precision(device: torch.device, amp: bool) -> str:
    """How the cell's model was trained: fp32, or autocast at the device's amp dtype."""
    from hashbench.kit.training import amp_dtype

    return ("amp-fp16" if amp_dtype(device) == torch.float16 else "amp-bf16") if amp else "fp32"


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_kernels() -> dict:
    """The CPU kernel settings that change floating-point results: the ATen level torch uses,
    the variables that pin oneDNN and MKL if set, and torch's thread count."""
    return {"aten": torch.backends.cpu.get_cpu_capability(),
            "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"),
            "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "MKL_CBWR": os.environ.get("MKL_CBWR"),
            "threads": torch.get_num_threads()}


def provenance(device: torch.device, seed: int, started: str, amp: bool = False) -> dict:
    sha, dirty = git_state()
    return {
        "hashbench_version": __version__,
        "git_sha": sha,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "device": device_name(device),
        "precision": precision(device, amp),
        "cpu": cpu_model(),
        "cpu_kernels": cpu_kernels(),
        "seed": seed,
        "command": shlex.join(sys.argv),
        "started_utc": started,
        "finished_utc": utc_now(),
    }


def refuse_dirty_shipped_results(results_dir: Path, suite: str) -> None:
    """Shipped results are computed from a clean checkout of the commit that ships them: refuse
    to write into ``<checkout>/results/<suite>`` (``suite``: the suite version's folder name)
    when it exists while the checkout holding hashbench has uncommitted changes."""
    from hashbench.errors import HashbenchError

    sha, dirty = git_state()
    if not dirty:
        return
    checkout = checkout_root()
    if checkout is None:  # an installed wheel ships no results
        return
    target = (Path(results_dir) / suite).resolve()
    if target.is_relative_to((checkout / "results").resolve()) and target.is_dir():
        raise HashbenchError(
            f"{target} holds shipped results and this checkout has uncommitted changes: commit "
            "them and rerun, or pass --allow-dirty (its records are then flagged on the board)")
