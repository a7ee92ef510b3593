"""hostPath ``type`` checks, as the kubelet makes them before mounting (with its messages)."""

from __future__ import annotations

import os
import stat

TYPES = (
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
)


class HostPathError(Exception):
    pass


def _mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None


def check(path: str, kind: str) -> None:
    """Check (or make, for the *OrCreate types) ``path``. Raises HostPathError, OSError."""
    if kind not in TYPES:
        raise HostPathError(f"{kind} is an invalid volume type")
    mode = _mode(path)
    if kind == "DirectoryOrCreate" and mode is None:
        os.makedirs(path, 0o755, exist_ok=True)
        return
    if kind == "FileOrCreate" and mode is None:
        # As the kubelet: the file is made, its directory is not.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        return
    wanted = {
        "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
        "Directory": (stat.S_ISDIR, "a directory"),
        "FileOrCreate": (stat.S_ISREG, "a file"),
        "File": (stat.S_ISREG, "a file"),
        "Socket": (stat.S_ISSOCK, "a socket file"),
        "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }.get(kind)
    if wanted is None:
        return
    test, what = wanted
    if mode is None or not test(mode):
        raise HostPathError(f"hostPath type check failed: {path} is not {what}")
