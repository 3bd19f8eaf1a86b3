"""The torch and numba thread counts a cell runs with (a suite's ``threads``): one place, for the
runner (this process) and the worker processes of ``--jobs``."""

from __future__ import annotations


def hold_threads(threads: int) -> None:
    """torch's intra- and inter-op threads and numba's held to ``threads`` in this process (the
    inter-op count can be set once, before any parallel work: a fresh process)."""
    import numba
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set, or parallel work already ran: keep what it is
        pass
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
