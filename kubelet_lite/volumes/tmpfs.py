"""Memory-backed volumes: a tmpfs on the node at the volume's directory (emptyDir with
``medium: Memory``, and Secrets, as the kubelet keeps them off the disk).

The mounts live in the pod's directory, so they are found from it: ``unmount_under`` takes
down every mount below a pod's directory (deepest first) before the directory is removed, by
the pod's own end or by the start-up clean-up after a crash.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

MS_NOSUID, MS_NODEV = 0x2, 0x4
MNT_DETACH = 0x2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str) -> list[str]:
    return [_unescape(line.split()[4]) for line in mountinfo.splitlines() if line.strip()]


def is_mount_point(path: Path) -> bool:
    return str(path) in mount_points(Path("/proc/self/mountinfo").read_text())


def mount_tmpfs(path: Path, size_bytes: int | None, mode: int = 0o777) -> None:
    """A tmpfs at ``path`` (made if missing), unless one is there already. Raises OSError."""
    path.mkdir(parents=True, exist_ok=True)
    if is_mount_point(path):
        return
    data = f"mode={mode:o}" + (f",size={size_bytes}" if size_bytes else "")
    rc = _libc().mount(
        b"tmpfs", str(path).encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), data.encode()
    )
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount tmpfs on {path}: {os.strerror(code)}")


def unmount_under(root: Path) -> list[str]:
    """Detach every mount at or below ``root``; the paths unmounted."""
    prefix = str(root).rstrip("/") + "/"
    points = [
        p
        for p in mount_points(Path("/proc/self/mountinfo").read_text())
        if p.startswith(prefix) or p == str(root)
    ]
    done = []
    for p in sorted(set(points), key=len, reverse=True):
        if _libc().umount2(p.encode(), MNT_DETACH) == 0:
            done.append(p)
    return done
