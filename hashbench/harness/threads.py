"""The torch and numba thread counts a cell runs with (a suite's ``threads``, else the user's):
one place, for the runner (this process) and the worker processes of ``--jobs``."""

from __future__ import annotations

import os

from hashbench.errors import ConfigError


def run_threads(suite: int | None, given: int | None) -> int | None:
    """The threads a run holds torch and numba to: a suite's fixed count (its bytes depend on
    it: a different ``--threads`` is refused), else ``given`` (``--threads``, ``threads=``),
    else ``$OMP_NUM_THREADS`` (numba would otherwise reset torch's OpenMP threads to its own
    count), else None: the process's own."""
    if suite and given and given != suite:
        raise ConfigError(f"--threads {given}: this suite fixes threads = {suite} (its records "
                          "are the same bytes on any machine only so); drop --threads")
    if suite or given:
        return suite or given
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) >= 1:
        return int(env)
    return None


def hold_threads(threads: int) -> None:
    """torch's intra- and inter-op threads and numba's held to ``threads`` in this process (the
    inter-op count can be set once, before any parallel work: a fresh process)."""
    import numba
    import torch

    # numba first: its first call starts its OpenMP layer, which resets the OpenMP thread count
    # torch shares to numba's own (held after it, torch kept 2 of 2 cores in a process that
    # had not used numba before: hashbench.benchmark's records said threads 2 under threads = 1)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set, or parallel work already ran: keep what it is
        pass
