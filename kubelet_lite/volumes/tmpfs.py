"""Memory-backed volumes: a tmpfs on the node at the volume's directory (emptyDir with
``medium: Memory``, and Secret and projected volumes, which the kubelet keeps off the disk).

The mounts live in the pod's directory, so they are found from it: ``unmount_under`` takes
down every mount below a pod's directory (deepest first) before the directory is removed, by
the pod's own end or by the start-up clean-up after a crash. (`knet cluster down` does the
same for kubelets it stopped: knet/cluster/pod_mounts.py.)
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from knet.machines.mounts import mounts_under, unmount
from knet.netlink.nsthread import libc

MS_NOSUID, MS_NODEV = 0x2, 0x4


def mount_tmpfs(path: Path, size_bytes: int | None, mode: int = 0o777) -> None:
    """A tmpfs at ``path`` (made if missing), unless one is there already. Raises OSError."""
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path):  # a stat of it and its parent: cheaper than mountinfo
        return
    data = f"mode={mode:o}" + (f",size={size_bytes}" if size_bytes else "")
    rc = libc().mount(
        b"tmpfs", str(path).encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), data.encode()
    )
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount tmpfs on {path}: {os.strerror(code)}")


def unmount_under(root: Path) -> list[str]:
    """Detach every mount at or below ``root``; the mount points."""
    points = mounts_under(root)
    for p in points:
        unmount(p)
    return points
