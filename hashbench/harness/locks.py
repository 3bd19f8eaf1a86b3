"""Locks that let several ``hashbench run`` processes share one results and cache folder
without doing the same work twice, and the clean-up of temporary files a killed run left.

A lock is an advisory ``flock`` on a file under ``<cache>/locks/``: the kernel drops it when its
process exits, however it exits (kill -9 included), so a lock is never stale. Lock files are
left in place after use; unlinking them would let two processes lock two different files of the
same name.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there do not coordinate, which is never unsafe
    fcntl = None  # type: ignore[assignment]


class FileLock:
    """An exclusive lock on ``path``: ``acquire(blocking=False)`` says whether it was free."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_for(cache_dir: Path, kind: str, key: str) -> FileLock:
    """The lock of one record (``key``: its path) or one model (``key``: its cache key)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return FileLock(Path(cache_dir) / "locks" / f"{kind}-{digest}.lock")


# temporary files are ``.<name>.<pid>.<random>.tmp`` (records.atomic_write_bytes)
_TEMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")
# a temporary file whose name carries no live pid is stale once this old
STALE_AFTER_S = 3600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def clean_stale_temp_files(*folders: Path) -> list[Path]:
    """Remove the temporary files a killed writer left under ``folders`` (those of a process
    that is gone, or older than an hour when their name holds no pid); return them."""
    removed = []
    now = time.time()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in folder.rglob(".*.tmp"):
            m = _TEMP.match(path.name)
            try:
                stale = (not _alive(int(m.group(1))) if m and int(m.group(1)) != os.getpid()
                         else not m and now - path.stat().st_mtime > STALE_AFTER_S)
                if stale:
                    path.unlink()
                    removed.append(path)
            except OSError:  # gone already, or not ours to remove
                continue
    return removed
