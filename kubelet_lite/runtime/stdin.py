"""The write ends of containers' stdin FIFOs that the kubelet holds while they run.

A container with ``stdin: true`` reads a FIFO (``PodDir.stdin_file``). Its reader sees EOF only
once every writer is gone, so the kubelet holds one writer from before the container starts:
between attaches the container just waits for input. With ``stdinOnce`` the first attach that
ends gives it up, and the container reads EOF (``echo data | kubectl run -i -- wc -l`` ends).
A kubelet that restarts lets them all go: containers waiting on stdin then read EOF.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_held: dict[Path, int] = {}


def hold(path: Path) -> None:
    """Make ``path`` a FIFO (if needed) and keep a writer on it; drop those of gone pods."""
    for gone in [p for p in _held if not p.parent.exists()]:
        release(gone)
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o600)
    if path not in _held:
        # Read-write: opening does not wait for the container's end.
        _held[path] = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


def release(path: Path) -> None:
    fd = _held.pop(path, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def held(path: Path) -> bool:
    return path in _held
